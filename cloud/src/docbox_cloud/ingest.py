"""Ingest of box messages into the database: pure domain functions on an AsyncSession.

Exactly-once effects over at-least-once transport: an event is stored once per
(box, event id), and only a newly stored event may change compartment state, and only if it
is newer (by sequence number) than whatever set that state last. A redelivered, replayed or
late event therefore never changes or rolls back anything.

The caller owns the transaction (see :func:`docbox_cloud.db.transaction`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.errors import UnknownBoxError
from docbox_cloud.models import Box, Command, Compartment, Event
from docbox_protocol.messages import (
    AlarmRaised,
    BoxState,
    BoxStatus,
    CommandOutcome,
    CommandReply,
    CommandResult,
    DoorClosed,
    DoorOpened,
    LockPulsed,
    RejectReason,
    StateSnapshot,
    utcnow,
)
from docbox_protocol.messages import Event as EventMessage

#: Least time between two snapshot requests to one box, across all replicas.
DEFAULT_SNAPSHOT_INTERVAL = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What storing one event did.

    Attributes:
        new: The event was not stored before (False for a redelivery or replay).
        gap: Its sequence number skipped past the highest stored one + 1.
        state_changed: It changed a compartment's door, lock or alarm state.
        snapshot_due: The caller should ask the box for a snapshot now (after a gap or an
            event about an unknown compartment; rate-limited per box).
    """

    new: bool
    gap: bool = False
    state_changed: bool = False
    snapshot_due: bool = False


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    """What applying a snapshot did, counted in compartments."""

    created: int
    updated: int
    skipped: int


async def store_event(
    session: AsyncSession,
    event: EventMessage,
    *,
    now: datetime | None = None,
    snapshot_interval: timedelta = DEFAULT_SNAPSHOT_INTERVAL,
) -> IngestResult:
    """Store ``event`` once and apply it to its compartment if it is the newest news.

    Raises:
        UnknownBoxError: if the box is not registered (the event is not stored).
    """
    now = now or utcnow()
    box = await _locked_box(session, event.box_id)
    inserted = await session.execute(_insert_event(session, event, now))
    if inserted.scalar_one_or_none() is None:
        return IngestResult(new=False)

    gap = event.seq > box.max_seq + 1
    box.max_seq = max(box.max_seq, event.seq)
    box.last_seen = now

    data = event.data
    state_changed = unknown_compartment = False
    if isinstance(data, CommandResult):
        await _record_outcome(
            session, data.command_id, event.box_id, data.outcome, data.reason, data.detail, now
        )
    elif isinstance(data, DoorOpened | DoorClosed | LockPulsed | AlarmRaised):
        compartment = await _compartment(session, event.box_id, data.compartment)
        if compartment is None:
            unknown_compartment = True
        elif event.seq > compartment.state_seq:
            _apply_event(compartment, data)
            compartment.state_seq = event.seq
            compartment.updated_at = now
            state_changed = True

    snapshot_due = (gap or unknown_compartment) and _claim_snapshot_request(box, now, snapshot_interval)
    return IngestResult(new=True, gap=gap, state_changed=state_changed, snapshot_due=snapshot_due)


async def apply_snapshot(
    session: AsyncSession, snapshot: StateSnapshot, *, now: datetime | None = None
) -> SnapshotResult:
    """Create the compartments a snapshot names and update those it is not older than.

    A compartment whose state was set by an event newer than ``snapshot.as_of_seq`` keeps
    it, so a stale retained snapshot cannot roll state back.

    Raises:
        UnknownBoxError: if the box is not registered.
    """
    now = now or utcnow()
    box = await _locked_box(session, snapshot.box_id)
    box.last_seen = now
    existing = {
        c.number: c
        for c in await session.scalars(select(Compartment).where(Compartment.box_id == snapshot.box_id))
    }
    created = updated = skipped = 0
    for state in snapshot.compartments:
        compartment = existing.get(state.number)
        if compartment is None:
            compartment = Compartment(box_id=snapshot.box_id, number=state.number)
            session.add(compartment)
            created += 1
        elif snapshot.as_of_seq >= compartment.state_seq:
            updated += 1
        else:
            skipped += 1
            continue
        compartment.size = state.size
        compartment.height_cm = state.height_cm
        compartment.door = state.door.value
        compartment.locked = state.locked
        compartment.alarms = sorted({a.value for a in state.alarms})
        compartment.state_seq = snapshot.as_of_seq
        compartment.updated_at = now
    return SnapshotResult(created=created, updated=updated, skipped=skipped)


async def apply_status(session: AsyncSession, status: BoxStatus, *, now: datetime | None = None) -> bool:
    """Record a box's birth or last will; return whether it changed the box.

    A status of an older session than the one known is stale and ignored; within one session
    "offline" is final, so a redelivered birth cannot revive a session whose will was seen.

    Raises:
        UnknownBoxError: if the box is not registered.
    """
    now = now or utcnow()
    box = await _locked_box(session, status.box_id)
    box.last_seen = now
    online = status.state is BoxState.ONLINE
    if box.session is not None and (
        status.session < box.session or (status.session == box.session and online and not box.online)
    ):
        return False
    box.session = status.session
    box.online = online
    return True


async def record_reply(session: AsyncSession, reply: CommandReply, *, now: datetime | None = None) -> bool:
    """Record a command's reply on its Command row, unless an outcome is already recorded.

    Returns whether the row was updated (False for unknown or already answered commands).
    """
    if reply.command_id is None:
        return False
    return await _record_outcome(
        session, reply.command_id, reply.box_id, reply.outcome, reply.reason, reply.detail, now or utcnow()
    )


async def _locked_box(session: AsyncSession, box_id: str) -> Box:
    # FOR UPDATE serialises ingest per box across workers sharing one subscription, so
    # max_seq and snapshot_requested_at are read-modify-written safely (a no-op on SQLite,
    # where BEGIN IMMEDIATE already serialises writers).
    box = await session.get(Box, box_id, with_for_update=True, populate_existing=True)
    if box is None:
        raise UnknownBoxError(box_id)
    return box


async def _compartment(session: AsyncSession, box_id: str, number: int) -> Compartment | None:
    result = await session.scalars(
        select(Compartment).where(Compartment.box_id == box_id, Compartment.number == number)
    )
    return result.one_or_none()


def _insert_event(session: AsyncSession, event: EventMessage, now: datetime) -> Insert:
    values = {
        "box_id": event.box_id,
        "event_id": event.id,
        "seq": event.seq,
        "session": event.session,
        "kind": event.data.kind,
        "compartment": getattr(event.data, "compartment", None),
        "occurred_at": event.at,
        "received_at": now,
        "payload": event.data.model_dump(mode="json"),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(Event)
        .values(values)
        .on_conflict_do_nothing(index_elements=[Event.box_id, Event.event_id])
        .returning(Event.event_id)
    )


def _apply_event(compartment: Compartment, data: DoorOpened | DoorClosed | LockPulsed | AlarmRaised) -> None:
    if isinstance(data, DoorOpened):
        compartment.door = "open"
        compartment.locked = False
    elif isinstance(data, DoorClosed):
        # Spring latches lock themselves when the door is shut.
        compartment.door = "closed"
        compartment.locked = True
    elif isinstance(data, LockPulsed):
        compartment.locked = False
    else:
        alarms = set(compartment.alarms)
        if data.active:
            alarms.add(data.alarm.value)
        else:
            alarms.discard(data.alarm.value)
        # A new list object: plain JSON columns do not track in-place mutation.
        compartment.alarms = sorted(alarms)


def _claim_snapshot_request(box: Box, now: datetime, interval: timedelta) -> bool:
    last = box.snapshot_requested_at
    if last is not None and now - last < interval:
        return False
    box.snapshot_requested_at = now
    return True


async def _record_outcome(
    session: AsyncSession,
    command_id: uuid.UUID,
    box_id: str,
    outcome: CommandOutcome,
    reason: RejectReason | None,
    detail: str | None,
    now: datetime,
) -> bool:
    result = await session.execute(
        update(Command)
        .where(Command.id == command_id, Command.box_id == box_id, Command.outcome.is_(None))
        .values(
            outcome=outcome.value,
            reason=reason.value if reason else None,
            detail=detail,
            replied_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
