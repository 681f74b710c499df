"""Slot generation: opening hours, state holidays, closures, durations, daylight saving time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from docbox_cloud.appointments.calendar import ClosedDays, CounterPlan, Interval, plan_slots, public_holiday

HOURS = [Interval(0, time(8), time(12)), Interval(0, time(13), time(15)), Interval(3, time(8), time(12))]
TWELVE_MINUTES = CounterPlan(counter_id=1, service_id="emergency", kind="emergency", duration_min=12)


def test_appt_calendar_minute_precise_back_to_back_slots() -> None:
    # Monday 2 March 2026 (CET): 08:00-12:00 holds 20 slots of 12 min, 13:00-15:00 holds 10.
    slots = plan_slots(
        date(2026, 3, 2),
        date(2026, 3, 2),
        timezone="Europe/Berlin",
        state="BE",
        hours=HOURS,
        counters=[TWELVE_MINUTES],
    )
    assert len(slots) == 30
    assert slots[0].starts_at == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    assert slots[1].starts_at == datetime(2026, 3, 2, 7, 12, tzinfo=UTC)
    assert slots[19].ends_at == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # 12:00 local
    assert slots[20].starts_at == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 13:00 local


def test_appt_calendar_last_slot_must_fit() -> None:
    counter = CounterPlan(1, "s", "ordinary", 25)
    slots = plan_slots(
        date(2026, 3, 2),
        date(2026, 3, 2),
        timezone="Europe/Berlin",
        state="BE",
        hours=[Interval(0, time(8), time(9))],
        counters=[counter],
    )
    assert [s.starts_at.astimezone(UTC).time() for s in slots] == [time(7, 0), time(7, 25)]


def test_appt_calendar_state_holidays() -> None:
    # Corpus Christi (4 June 2026, a Thursday) is a holiday in Bavaria but not in Berlin.
    thursday = date(2026, 6, 4)
    assert public_holiday(thursday, "BY") is not None
    assert public_holiday(thursday, "BE") is None
    bavaria = plan_slots(
        thursday, thursday, timezone="Europe/Berlin", state="BY", hours=HOURS, counters=[TWELVE_MINUTES]
    )
    berlin = plan_slots(
        thursday, thursday, timezone="Europe/Berlin", state="BE", hours=HOURS, counters=[TWELVE_MINUTES]
    )
    assert bavaria == []
    assert len(berlin) == 20
    # Labour Day everywhere.
    assert (
        plan_slots(
            date(2025, 5, 1),
            date(2025, 5, 1),
            timezone="Europe/Berlin",
            state="BE",
            hours=HOURS,
            counters=[TWELVE_MINUTES],
        )
        == []
    )


def test_appt_calendar_closures_per_office_and_counter() -> None:
    other = CounterPlan(2, "emergency", "emergency", 20)
    monday = date(2026, 3, 9)
    office_closed = plan_slots(
        monday,
        monday,
        timezone="Europe/Berlin",
        state="BE",
        hours=HOURS,
        counters=[TWELVE_MINUTES, other],
        closures=[ClosedDays(monday, monday)],
    )
    assert office_closed == []
    counter_closed = plan_slots(
        monday,
        monday,
        timezone="Europe/Berlin",
        state="BE",
        hours=HOURS,
        counters=[TWELVE_MINUTES, other],
        closures=[ClosedDays(monday, monday, counter_id=1)],
    )
    assert {s.counter_id for s in counter_closed} == {2}


def test_appt_calendar_daylight_saving_time() -> None:
    # Clocks go forward on 29 March 2026: 08:00 local is 07:00 UTC before, 06:00 UTC after.
    before = plan_slots(
        date(2026, 3, 23),
        date(2026, 3, 23),
        timezone="Europe/Berlin",
        state="BE",
        hours=HOURS,
        counters=[TWELVE_MINUTES],
    )
    after = plan_slots(
        date(2026, 3, 30),
        date(2026, 3, 30),
        timezone="Europe/Berlin",
        state="BE",
        hours=HOURS,
        counters=[TWELVE_MINUTES],
    )
    assert before[0].starts_at.time() == time(7, 0)
    assert after[0].starts_at.time() == time(6, 0)
