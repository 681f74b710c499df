"""Minute-precise slots from opening hours, public holidays of the office's state and closures.

Slot generation is a pure function (:func:`plan_slots`); :func:`generate_slots` stores its
result, skipping slots that exist already, so running it again (e.g. nightly for the next
weeks) is safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.appointments.errors import InvalidRequestError, NotFoundError
from docbox_cloud.appointments.models import Closure, Counter, Office, OpeningHours, Service, Slot

#: German states (ISO 3166-2:DE suffixes) the holidays package knows.
GERMAN_STATES = (
    "BB",
    "BE",
    "BW",
    "BY",
    "HB",
    "HE",
    "HH",
    "MV",
    "NI",
    "NW",
    "RP",
    "SH",
    "SL",
    "SN",
    "ST",
    "TH",
)
MAX_GENERATION_DAYS = 92


@dataclass(frozen=True, slots=True)
class Interval:
    """Opening interval on a weekday (Monday = 0), local wall-clock time."""

    weekday: int
    opens: time
    closes: time


@dataclass(frozen=True, slots=True)
class CounterPlan:
    """A counter and the service (duration) it offers."""

    counter_id: int
    service_id: str
    kind: str
    duration_min: int


@dataclass(frozen=True, slots=True)
class ClosedDays:
    """Closed days, for the whole office (``counter_id`` None) or one counter."""

    first_day: date
    last_day: date
    counter_id: int | None = None

    def covers(self, day: date, counter_id: int) -> bool:
        """Whether ``counter_id`` is closed on ``day``."""
        return self.first_day <= day <= self.last_day and self.counter_id in (None, counter_id)


@dataclass(frozen=True, slots=True)
class PlannedSlot:
    """A slot to store (UTC instants)."""

    counter_id: int
    service_id: str
    kind: str
    starts_at: datetime
    ends_at: datetime


@lru_cache(maxsize=64)
def _holidays(state: str, year: int) -> dict[date, str]:
    return dict(holidays.country_holidays("DE", subdiv=state, years=year).items())


def public_holiday(day: date, state: str) -> str | None:
    """The name of the public holiday on ``day`` in German ``state``, or None."""
    return _holidays(state, day.year).get(day)


def plan_slots(
    first_day: date,
    last_day: date,
    *,
    timezone: str,
    state: str,
    hours: Sequence[Interval],
    counters: Sequence[CounterPlan],
    closures: Iterable[ClosedDays] = (),
) -> list[PlannedSlot]:
    """Every slot between ``first_day`` and ``last_day`` (inclusive), by counter and time.

    Each opening interval is filled from its start with back-to-back slots of the counter's
    service duration; a slot must end by the interval's close. Public holidays of ``state``
    and closures produce no slots. Wall-clock times are converted to UTC in ``timezone``.
    """
    zone = ZoneInfo(timezone)
    closures = list(closures)
    planned: list[PlannedSlot] = []
    day = first_day
    while day <= last_day:
        if public_holiday(day, state) is None:
            for counter in counters:
                if any(closure.covers(day, counter.counter_id) for closure in closures):
                    continue
                step = timedelta(minutes=counter.duration_min)
                for interval in sorted(
                    (h for h in hours if h.weekday == day.weekday()), key=lambda h: h.opens
                ):
                    start = datetime.combine(day, interval.opens, tzinfo=zone)
                    close = datetime.combine(day, interval.closes, tzinfo=zone)
                    while start + step <= close:
                        planned.append(
                            PlannedSlot(
                                counter_id=counter.counter_id,
                                service_id=counter.service_id,
                                kind=counter.kind,
                                starts_at=start.astimezone(UTC),
                                ends_at=(start + step).astimezone(UTC),
                            )
                        )
                        start += step
        day += timedelta(days=1)
    return planned


async def generate_slots(session: AsyncSession, office_id: str, first_day: date, last_day: date) -> int:
    """Store the slots of ``office_id`` for the given days; return how many were new.

    Raises:
        NotFoundError: if the office does not exist.
        InvalidRequestError: if the range is reversed or longer than 92 days.
    """
    if last_day < first_day or (last_day - first_day).days >= MAX_GENERATION_DAYS:
        raise InvalidRequestError(f"generate at most {MAX_GENERATION_DAYS} days, first_day <= last_day")
    office = await session.get(Office, office_id)
    if office is None:
        raise NotFoundError(f"office {office_id!r} does not exist")
    hours = (await session.scalars(select(OpeningHours).where(OpeningHours.office_id == office_id))).all()
    rows = (
        await session.execute(
            select(Counter, Service)
            .join(Service, Counter.service_id == Service.id)
            .where(Counter.office_id == office_id, Counter.active)
        )
    ).all()
    closures = (await session.scalars(select(Closure).where(Closure.office_id == office_id))).all()
    planned = plan_slots(
        first_day,
        last_day,
        timezone=office.timezone,
        state=office.state,
        hours=[Interval(h.weekday, h.opens, h.closes) for h in hours],
        counters=[CounterPlan(c.id, s.id, s.kind, s.duration_min) for c, s in rows],
        closures=[ClosedDays(c.first_day, c.last_day, c.counter_id) for c in closures],
    )
    if not planned:
        return 0
    values = [
        {
            "office_id": office_id,
            "counter_id": p.counter_id,
            "service_id": p.service_id,
            "kind": p.kind,
            "starts_at": p.starts_at,
            "ends_at": p.ends_at,
            "withdrawn": False,
        }
        for p in planned
    ]
    dialect = session.bind.dialect.name if session.bind is not None else "postgresql"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    inserted = 0
    # Chunks keep each statement under the databases' bound-parameter limits.
    for chunk_start in range(0, len(values), 500):
        chunk = values[chunk_start : chunk_start + 500]
        statement = (
            insert(Slot).values(chunk).on_conflict_do_nothing(index_elements=["counter_id", "starts_at"])
        )
        result = await session.execute(statement.returning(Slot.id))
        inserted += len(result.all())
    return inserted
