"""Test data for the cloud tests: protocol messages and registered boxes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud import boxes, ingest
from docbox_cloud.db import transaction
from docbox_protocol.messages import (
    BoxState,
    BoxStatus,
    CompartmentState,
    DoorPosition,
    Event,
    EventData,
    StateSnapshot,
)

BOX = "box-1"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_event(seq: int, data: EventData, *, box_id: str = BOX, session: int = 1) -> Event:
    """An event with a fresh id at ``T0 + seq`` seconds."""
    return Event(
        id=uuid.uuid4(), box_id=box_id, session=session, seq=seq, at=T0 + timedelta(seconds=seq), data=data
    )


def make_snapshot(
    as_of_seq: int,
    compartments: int = 3,
    *,
    box_id: str = BOX,
    door: DoorPosition = DoorPosition.CLOSED,
    locked: bool = True,
) -> StateSnapshot:
    """A snapshot with ``compartments`` compartments, the low ones small and low-mounted."""
    return StateSnapshot(
        box_id=box_id,
        session=1,
        as_of_seq=as_of_seq,
        at=T0,
        reason="birth",
        compartments=[
            CompartmentState(
                number=n, door=door, locked=locked, size="S" if n <= 2 else "M", height_cm=20 * n
            )
            for n in range(1, compartments + 1)
        ],
    )


def make_status(state: BoxState, session: int, *, box_id: str = BOX) -> BoxStatus:
    """A birth (online) or will (offline) message."""
    return BoxStatus(box_id=box_id, state=state, session=session, at=T0)


async def add_box(
    sessions: async_sessionmaker[AsyncSession], box_id: str = BOX, *, compartments: int = 3
) -> None:
    """Register a box and give it compartments through a birth snapshot (as_of_seq 0)."""
    async with transaction(sessions) as session:
        await boxes.register_box(session, box_id, f"Box {box_id}")
        if compartments:
            await ingest.apply_snapshot(session, make_snapshot(0, compartments, box_id=box_id))
