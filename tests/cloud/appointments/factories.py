"""Test data of the appointment tests: settings, an office with counters and slots, requests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.appointments import calendar, offices
from docbox_cloud.appointments.config import AppointmentSettings
from docbox_cloud.appointments.context import AppointmentContext
from docbox_cloud.appointments.models import Slot
from docbox_cloud.appointments.schemas import (
    Contact,
    CounterCreate,
    OfficeCreate,
    OpeningInterval,
    ReserveRequest,
    ServiceCreate,
)
from docbox_cloud.db import transaction

#: Monday, 2 March 2026, 08:00 in Berlin (CET, UTC+1).
NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)
OFFICE_ID = "berlin-mitte"


def make_settings(**overrides: Any) -> AppointmentSettings:
    """Appointment settings for tests (no environment), cheap proof of work."""
    values: dict[str, Any] = {"pow_max_number": 2_000, "min_lead_min": 0}
    values.update(overrides)
    return AppointmentSettings(_env_file=None, **values)


def make_context(**overrides: Any) -> AppointmentContext:
    """Context with test settings and a fixed secret."""
    return AppointmentContext.create(make_settings(**overrides), SecretStr("test-secret"))


@dataclass(frozen=True)
class OfficeSeed:
    """Ids of the seeded office."""

    office_id: str
    emergency_counters: list[int]
    ordinary_counter: int
    pickup_counter: int


async def seed_office(
    sessions: async_sessionmaker[AsyncSession],
    *,
    office_id: str = OFFICE_ID,
    emergency_mode: Literal["direct", "triage"] = "direct",
    restricted: bool = True,
    emergency_counters: int = 2,
    days: int = 5,
) -> OfficeSeed:
    """Office with Mon–Fri 08:00–12:00 and 13:00–15:00, 20-min emergency, 30-min ordinary, 10-min pickup."""
    async with transaction(sessions) as session:
        await offices.create_office(
            session,
            OfficeCreate(
                office_id=office_id,
                name="Ausländerbehörde Mitte",
                state="BE",
                organizer_email="termine@office.example",
                restricted=restricted,
                emergency_mode=emergency_mode,
            ),
            NOW,
        )
        services: tuple[tuple[str, Literal["emergency", "ordinary", "pickup"], int], ...] = (
            ("emergency", "emergency", 20),
            ("ordinary", "ordinary", 30),
            ("pickup", "pickup", 10),
        )
        for service_id, kind, minutes in services:
            await offices.add_service(
                session,
                office_id,
                ServiceCreate(
                    service_id=f"{office_id}-{service_id}", name=service_id, kind=kind, duration_min=minutes
                ),
            )
        emergency = [
            (
                await offices.add_counter(
                    session, office_id, CounterCreate(name=f"E{i + 1}", service_id=f"{office_id}-emergency")
                )
            ).counter_id
            for i in range(emergency_counters)
        ]
        ordinary = await offices.add_counter(
            session, office_id, CounterCreate(name="A1", service_id=f"{office_id}-ordinary")
        )
        pickup = await offices.add_counter(
            session, office_id, CounterCreate(name="P1", service_id=f"{office_id}-pickup")
        )
        hours = [
            OpeningInterval(weekday=day, opens=opens, closes=closes)
            for day in range(5)
            for opens, closes in ((time(8), time(12)), (time(13), time(15)))
        ]
        await offices.set_opening_hours(session, office_id, hours)
        await calendar.generate_slots(session, office_id, TODAY, TODAY + timedelta(days=days - 1))
    return OfficeSeed(office_id, emergency, ordinary.counter_id, pickup.counter_id)


async def slot_ids(
    sessions: async_sessionmaker[AsyncSession],
    office_id: str,
    kind: str,
    count: int,
    *,
    after: datetime | None = None,
) -> list[int]:
    """The first ``count`` slots of a kind starting after ``after`` (default: two hours after NOW)."""
    after = after or NOW + timedelta(hours=2)
    async with transaction(sessions) as session:
        rows = await session.scalars(
            select(Slot.id)
            .where(Slot.office_id == office_id, Slot.kind == kind, Slot.starts_at > after)
            .order_by(Slot.starts_at, Slot.counter_id)
            .limit(count)
        )
        return list(rows.all())


def emergency_request(slot_id: int, document_number: str = "C01X00T47", **overrides: Any) -> ReserveRequest:
    """A qualifying emergency reservation (permit expiring in a week)."""
    values: dict[str, Any] = {
        "slot_id": slot_id,
        "language": "de",
        "contact": Contact(channel="email", address="anna@example.org"),
        "case": {
            "category": "permit_expiring",
            "permit_expires_on": (TODAY + timedelta(days=7)).isoformat(),
            "evidence": ["passport", "residence_permit"],
        },
        "document_number": document_number,
    }
    values.update(overrides)
    return ReserveRequest.model_validate(values)


def code_in(text: str) -> str:
    """The 6-digit code from a code message (it is on the first line in every language)."""
    match = re.search(r"[0-9]{6}", text.splitlines()[0])
    assert match is not None, "no code in the message"
    return match.group(0)
