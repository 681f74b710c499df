"""No double booking, ever: many concurrent clients race for a few slots on real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.appointments import booking
from docbox_cloud.appointments.errors import AppointmentError, SlotTakenError
from docbox_cloud.appointments.models import Booking
from docbox_cloud.db import transaction
from tests.cloud.appointments.factories import NOW, OfficeSeed, emergency_request, make_context, slot_ids

CLIENTS = 200
SLOTS = 4
CTX = make_context()


async def test_appt_race_exactly_one_winner_per_slot(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    slots = await slot_ids(pg_sessions, office.office_id, "emergency", SLOTS)
    start = asyncio.Event()

    async def client(number: int) -> tuple[int, str]:
        slot_id = slots[number % SLOTS]
        await start.wait()
        try:
            async with transaction(pg_sessions) as session:
                await booking.reserve(
                    session, CTX, NOW, office.office_id, emergency_request(slot_id, f"P{number:07d}")
                )
        except SlotTakenError:
            return slot_id, "taken"
        except AppointmentError as exc:
            return slot_id, f"other: {exc.code}"
        return slot_id, "won"

    tasks = [asyncio.create_task(client(n)) for n in range(CLIENTS)]
    began = time.perf_counter()
    start.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    elapsed = time.perf_counter() - began

    winners = Counter(slot for slot, result in outcomes if result == "won")
    assert winners == dict.fromkeys(slots, 1)
    assert Counter(result for _, result in outcomes) == {"won": SLOTS, "taken": CLIENTS - SLOTS}
    async with transaction(pg_sessions) as session:
        rows = (
            await session.execute(
                select(Booking.slot_id, func.count())
                .where(Booking.status == "held")
                .group_by(Booking.slot_id)
            )
        ).all()
    assert sorted(rows) == sorted((slot, 1) for slot in slots)
    print(f"\n{CLIENTS} clients, {SLOTS} slots: {elapsed:.2f} s ({CLIENTS / elapsed:.0f} attempts/s)")


async def test_appt_race_same_person_two_slots_one_wins(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    slots = await slot_ids(pg_sessions, office.office_id, "emergency", 10)
    start = asyncio.Event()

    async def client(slot_id: int) -> str:
        await start.wait()
        try:
            async with transaction(pg_sessions) as session:
                await booking.reserve(
                    session, CTX, NOW, office.office_id, emergency_request(slot_id, "SAMEPERSON1")
                )
        except AppointmentError as exc:
            return exc.code
        return "won"

    tasks = [asyncio.create_task(client(slot)) for slot in slots]
    start.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    assert Counter(results) == {"won": 1, "person_has_booking": 9}
