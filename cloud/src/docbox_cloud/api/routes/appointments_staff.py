"""Staff endpoints of the appointment service: set-up, slot generation, triage rounds, day list, stats.

Protected by the API token (:func:`docbox_cloud.api.deps.require_token`) until the role
system replaces that dependency.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, status
from pydantic import BaseModel

from docbox_cloud.api.deps import SessionDep, require_token
from docbox_cloud.api.errors import error_responses
from docbox_cloud.api.routes.appointments import OfficeIdPath, RuntimeDep, errors
from docbox_cloud.appointments import calendar, offices, retention, staff, triage
from docbox_cloud.appointments import errors as e
from docbox_cloud.appointments.schemas import (
    ClosureCreate,
    CounterCreate,
    CounterPublic,
    DayListEntry,
    HousekeepingResult,
    OfficeCreate,
    OfficePublic,
    OfficeUpdate,
    OpeningInterval,
    RoundResult,
    ServiceCreate,
    SlotGeneration,
    SlotGenerationResult,
    StatsPublic,
)

router = APIRouter(
    prefix="/api/v1/staff/appointments",
    tags=["appointments (staff)"],
    dependencies=[Depends(require_token)],
    responses=error_responses(401),
)


class StatusPublic(BaseModel):
    """A booking's new status."""

    booking_id: uuid.UUID
    status: Literal["checked_in", "no_show"]


@router.post(
    "/offices",
    status_code=status.HTTP_201_CREATED,
    summary="Register an office",
    responses=errors(e.InvalidRequestError),
)
async def create_office(body: OfficeCreate, session: SessionDep, runtime: RuntimeDep) -> OfficePublic:
    """Register an office with its state (public holidays), time zone and modes."""
    return await offices.create_office(session, body, runtime.clock())


@router.patch("/offices/{office_id}", summary="Switch an office's modes", responses=errors(e.NotFoundError))
async def update_office(office_id: OfficeIdPath, body: OfficeUpdate, session: SessionDep) -> OfficePublic:
    """Switch restricted mode (emergencies only) and direct booking vs triage for emergencies."""
    return await offices.update_office(session, office_id, body)


@router.post(
    "/offices/{office_id}/services",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Add a service",
    responses=errors(e.NotFoundError, e.InvalidRequestError),
)
async def add_service(office_id: OfficeIdPath, body: ServiceCreate, session: SessionDep) -> None:
    """A service (`emergency`, `ordinary` or `pickup`) with its duration in minutes."""
    await offices.add_service(session, office_id, body)


@router.post(
    "/offices/{office_id}/counters",
    status_code=status.HTTP_201_CREATED,
    summary="Add a counter",
    responses=errors(e.NotFoundError),
)
async def add_counter(office_id: OfficeIdPath, body: CounterCreate, session: SessionDep) -> CounterPublic:
    """A counter serving one service; its slots follow that service's duration."""
    return await offices.add_counter(session, office_id, body)


@router.get("/offices/{office_id}/counters", summary="List counters", responses=errors(e.NotFoundError))
async def list_counters(office_id: OfficeIdPath, session: SessionDep) -> list[CounterPublic]:
    """The office's counters."""
    return await offices.list_counters(session, office_id)


@router.put(
    "/offices/{office_id}/opening-hours",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set opening hours",
    responses=errors(e.NotFoundError),
)
async def set_opening_hours(
    office_id: OfficeIdPath, body: list[OpeningInterval], session: SessionDep
) -> None:
    """Replace the weekly opening intervals (local time; several per day for breaks)."""
    await offices.set_opening_hours(session, office_id, body)


@router.post(
    "/offices/{office_id}/closures",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Close days",
    responses=errors(e.NotFoundError),
)
async def add_closure(office_id: OfficeIdPath, body: ClosureCreate, session: SessionDep) -> None:
    """Close the office or one counter; free slots already generated for those days are withdrawn."""
    await offices.add_closure(session, office_id, body)


@router.post(
    "/offices/{office_id}/slots/generate",
    summary="Generate slots",
    responses=errors(e.NotFoundError, e.InvalidRequestError),
)
async def generate_slots(
    office_id: OfficeIdPath, body: SlotGeneration, session: SessionDep
) -> SlotGenerationResult:
    """Create the slots of a range of days from opening hours, holidays and closures (idempotent)."""
    return SlotGenerationResult(
        created=await calendar.generate_slots(session, office_id, body.first_day, body.last_day)
    )


@router.post(
    "/offices/{office_id}/triage/rounds", summary="Run a triage round", responses=errors(e.NotFoundError)
)
async def run_triage_round(
    office_id: OfficeIdPath, session: SessionDep, runtime: RuntimeDep, background: BackgroundTasks
) -> RoundResult:
    """Offer free emergency slots to pending requests by urgency (earliest deadline, then filing time)."""
    result = await triage.run_round(session, runtime.ctx, runtime.clock(), office_id)
    background.add_task(runtime.kick)
    return result


@router.get("/offices/{office_id}/day-list", summary="Day list", responses=errors(e.NotFoundError))
async def day_list(
    office_id: OfficeIdPath,
    day: date,
    session: SessionDep,
    counter_id: Annotated[int | None, Query(description="Only this counter")] = None,
) -> list[DayListEntry]:
    """The day's appointments per counter and time, with reference, category and evidence to expect."""
    return await staff.day_list(session, office_id, day, counter_id)


@router.post(
    "/offices/{office_id}/bookings/{booking_id}/check-in",
    summary="Check an applicant in",
    responses=errors(e.NotFoundError, e.BookingStateError),
)
async def check_in(
    office_id: OfficeIdPath, booking_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep
) -> StatusPublic:
    """Mark the applicant as arrived."""
    await staff.check_in(session, office_id, booking_id, runtime.clock())
    return StatusPublic(booking_id=booking_id, status="checked_in")


@router.post(
    "/offices/{office_id}/bookings/{booking_id}/no-show",
    summary="Mark a no-show",
    responses=errors(e.NotFoundError, e.BookingStateError),
)
async def no_show(
    office_id: OfficeIdPath, booking_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep
) -> StatusPublic:
    """Mark the appointment as missed (once it has begun)."""
    await staff.no_show(session, office_id, booking_id, runtime.clock())
    return StatusPublic(booking_id=booking_id, status="no_show")


@router.get(
    "/offices/{office_id}/stats", summary="Statistics per category", responses=errors(e.NotFoundError)
)
async def stats(office_id: OfficeIdPath, first_day: date, last_day: date, session: SessionDep) -> StatsPublic:
    """Anonymous counts per category and status (they survive the retention job)."""
    return await staff.stats(session, office_id, first_day, last_day)


@router.post("/housekeeping", summary="Run housekeeping now")
async def run_housekeeping(
    session: SessionDep, runtime: RuntimeDep, background: BackgroundTasks
) -> HousekeepingResult:
    """Expire holds and offers, close past days, queue reminders, anonymise old data.

    The worker does this every `worker_interval_s`; this endpoint is for operators and tests.
    """
    result = await retention.housekeeping(session, runtime.ctx, runtime.clock())
    background.add_task(runtime.kick)
    return result
