"""Ingest of events, snapshots, statuses and replies (on SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud import boxes, ingest
from docbox_cloud.db import transaction
from docbox_cloud.errors import UnknownBoxError
from docbox_cloud.models import Box, Command, Compartment, Event
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    BoxState,
    CommandOutcome,
    CommandReply,
    CommandResult,
    DoorClosed,
    DoorOpened,
    DoorPosition,
    EventData,
    LockPulsed,
    RejectReason,
)
from docbox_protocol.messages import Event as EventMessage
from tests.cloud.factories import BOX, T0, add_box, make_event, make_snapshot, make_status

Sessions = async_sessionmaker[AsyncSession]


async def compartment(sessions: Sessions, number: int, box_id: str = BOX) -> Compartment:
    async with transaction(sessions) as session:
        return await boxes.get_compartment(session, box_id, number)


async def box_row(sessions: Sessions, box_id: str = BOX) -> Box:
    async with transaction(sessions) as session:
        return await boxes.get_box(session, box_id)


async def store(sessions: Sessions, event: EventMessage, now: datetime | None = None) -> ingest.IngestResult:
    async with transaction(sessions) as session:
        return await ingest.store_event(session, event, now=now)


async def event_count(sessions: Sessions) -> int:
    async with transaction(sessions) as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


async def test_same_event_twice_is_stored_once_and_applied_once(sessions: Sessions) -> None:
    await add_box(sessions)
    opened = make_event(1, DoorOpened(compartment=1))

    first = await store(sessions, opened)
    state_after_first = await compartment(sessions, 1)
    second = await store(sessions, opened)

    assert first == ingest.IngestResult(new=True, gap=False, state_changed=True, snapshot_due=False)
    assert second == ingest.IngestResult(new=False)
    assert await event_count(sessions) == 1
    state = await compartment(sessions, 1)
    assert (state.door, state.locked, state.state_seq) == ("open", False, 1)
    assert state.updated_at == state_after_first.updated_at


async def test_replayed_old_event_does_not_undo_later_state(sessions: Sessions) -> None:
    await add_box(sessions)
    opened = make_event(1, DoorOpened(compartment=1))
    await store(sessions, opened)
    await store(sessions, make_event(2, DoorClosed(compartment=1)))

    replay = await store(sessions, opened)

    assert not replay.new
    state = await compartment(sessions, 1)
    assert (state.door, state.locked) == ("closed", True)


async def test_late_event_is_stored_but_does_not_roll_state_back(sessions: Sessions) -> None:
    await add_box(sessions)
    await store(sessions, make_event(2, DoorClosed(compartment=1)))

    late = await store(sessions, make_event(1, DoorOpened(compartment=1)))

    assert late == ingest.IngestResult(new=True, gap=False, state_changed=False)
    state = await compartment(sessions, 1)
    assert (state.door, state.locked, state.state_seq) == ("closed", True, 2)
    assert (await box_row(sessions)).max_seq == 2
    assert await event_count(sessions) == 2


async def test_sequence_gap_is_detected_and_asks_for_one_snapshot_per_interval(sessions: Sessions) -> None:
    await add_box(sessions)
    assert not (await store(sessions, make_event(1, DoorOpened(compartment=1)), now=T0)).gap

    second = timedelta(seconds=1)
    gap = await store(sessions, make_event(4, DoorClosed(compartment=1)), now=T0)
    second_gap = await store(sessions, make_event(9, DoorOpened(compartment=2)), now=T0 + second)
    later_gap = await store(sessions, make_event(12, DoorOpened(compartment=3)), now=T0 + 11 * second)

    assert (gap.gap, gap.snapshot_due) == (True, True)
    assert (second_gap.gap, second_gap.snapshot_due) == (True, False), "rate-limited: asked 1 s ago"
    assert (later_gap.gap, later_gap.snapshot_due) == (True, True)
    assert (await box_row(sessions)).max_seq == 12


async def test_event_for_unknown_compartment_asks_for_a_snapshot(sessions: Sessions) -> None:
    await add_box(sessions, compartments=2)

    result = await store(sessions, make_event(1, DoorOpened(compartment=7)))

    assert result == ingest.IngestResult(new=True, gap=False, state_changed=False, snapshot_due=True)


async def test_door_lock_and_alarm_semantics(sessions: Sessions) -> None:
    await add_box(sessions)
    command_id = uuid.uuid4()
    left_open, flapping = AlarmKind.LEFT_OPEN, AlarmKind.FLAPPING
    steps: list[tuple[EventData, tuple[str, bool, list[str]]]] = [
        (LockPulsed(compartment=1, command_id=command_id, pulse_ms=300), ("closed", False, [])),
        (DoorOpened(compartment=1, command_id=command_id), ("open", False, [])),
        (AlarmRaised(compartment=1, alarm=left_open, active=True), ("open", False, ["left_open"])),
        (AlarmRaised(compartment=1, alarm=flapping, active=True), ("open", False, ["flapping", "left_open"])),
        (AlarmRaised(compartment=1, alarm=left_open, active=False), ("open", False, ["flapping"])),
        (DoorClosed(compartment=1, open_ms=1200), ("closed", True, ["flapping"])),
    ]
    for seq, (data, (door, locked, alarms)) in enumerate(steps, start=1):
        event = make_event(seq, data)
        await store(sessions, event)
        state = await compartment(sessions, 1)
        assert (state.door, state.locked, state.alarms) == (door, locked, alarms), event.data.kind


async def test_unregistered_box_is_rejected_and_nothing_stored(sessions: Sessions) -> None:
    with pytest.raises(UnknownBoxError, match="stranger"):
        await store(sessions, make_event(1, DoorOpened(compartment=1), box_id="stranger"))
    assert await event_count(sessions) == 0


async def test_snapshot_creates_compartments_with_size_and_height(sessions: Sessions) -> None:
    async with transaction(sessions) as session:
        await boxes.register_box(session, BOX, "Front door")
        result = await ingest.apply_snapshot(session, make_snapshot(5, compartments=4))
    assert result == ingest.SnapshotResult(created=4, updated=0, skipped=0)
    async with transaction(sessions) as session:
        compartments = await boxes.list_compartments(session, BOX)
    assert [(c.number, c.size, c.height_cm, c.door, c.state_seq) for c in compartments] == [
        (1, "S", 20, "closed", 5),
        (2, "S", 40, "closed", 5),
        (3, "M", 60, "closed", 5),
        (4, "M", 80, "closed", 5),
    ]


async def test_snapshot_older_than_an_event_keeps_the_event_state(sessions: Sessions) -> None:
    await add_box(sessions)
    await store(sessions, make_event(5, DoorOpened(compartment=1)))

    async with transaction(sessions) as session:
        stale = await ingest.apply_snapshot(session, make_snapshot(4, door=DoorPosition.CLOSED))
        fresh = await ingest.apply_snapshot(session, make_snapshot(6, door=DoorPosition.CLOSED))

    # Compartment 1 was set by seq 5: the seq 4 snapshot skips it but updates 2 and 3.
    assert stale == ingest.SnapshotResult(created=0, updated=2, skipped=1)
    assert fresh == ingest.SnapshotResult(created=0, updated=3, skipped=0)
    state = await compartment(sessions, 1)
    assert (state.door, state.state_seq) == ("closed", 6)


async def test_snapshot_for_unregistered_box_is_rejected(sessions: Sessions) -> None:
    with pytest.raises(UnknownBoxError):
        async with transaction(sessions) as session:
            await ingest.apply_snapshot(session, make_snapshot(1, box_id="stranger"))


async def test_status_sets_online_and_ignores_stale_sessions(sessions: Sessions) -> None:
    await add_box(sessions)

    async def apply(state: BoxState, session_no: int) -> bool:
        async with transaction(sessions) as session:
            return await ingest.apply_status(session, make_status(state, session_no), now=T0)

    assert await apply(BoxState.ONLINE, 0)
    assert (await box_row(sessions)).online
    assert await apply(BoxState.OFFLINE, 0)
    assert not await apply(BoxState.ONLINE, 0), "a redelivered birth cannot revive a dead session"
    assert not (await box_row(sessions)).online
    assert await apply(BoxState.ONLINE, 1)
    assert not await apply(BoxState.OFFLINE, 0), "the will of an older session is stale"
    box = await box_row(sessions)
    assert (box.online, box.session, box.last_seen) == (True, 1, T0)


async def test_reply_and_command_result_record_the_outcome_once(sessions: Sessions) -> None:
    await add_box(sessions)
    command_id = uuid.uuid4()
    async with transaction(sessions) as session:
        session.add(
            Command(
                id=command_id, box_id=BOX, compartment=1, action="unlock",
                issued_at=T0, expires_at=T0 + timedelta(seconds=10),
            )
        )
    reply = CommandReply(
        command_id=command_id, box_id=BOX, at=T0, outcome=CommandOutcome.REJECTED,
        reason=RejectReason.DOOR_ALREADY_OPEN,
    )
    async with transaction(sessions) as session:
        assert await ingest.record_reply(session, reply)
    result = make_event(1, CommandResult(command_id=command_id, compartment=1, outcome=CommandOutcome.OPENED))
    await store(sessions, result)

    async with transaction(sessions) as session:
        row = await session.get(Command, command_id)
    assert row is not None
    assert (row.outcome, row.reason) == ("rejected", "door_already_open")
