"""Turns what ingest stored into telemetry points (an ingest observer)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.db import transaction
from docbox_cloud.errors import StorageError
from docbox_cloud.ingest import IngestResult, SnapshotResult
from docbox_cloud.models import Event as EventRow
from docbox_cloud.telemetry import points
from docbox_cloud.telemetry.lineprotocol import Point, PointError
from docbox_cloud.telemetry.writer import TelemetryWriter
from docbox_protocol.messages import BoxStatus, DoorOpened, Event, StateSnapshot, Telemetry, utcnow

log = logging.getLogger(__name__)


class TelemetryObserver:
    """Writes the points of every newly stored event, status, snapshot and telemetry sample.

    Args:
        writer: Where the points go (never blocks).
        sessions: The cloud database, to find the lock pulse that preceded a door opening
            (for the unlock-to-open delay); None leaves the delay out.
    """

    def __init__(
        self, writer: TelemetryWriter, sessions: async_sessionmaker[AsyncSession] | None = None
    ) -> None:
        self._writer = writer
        self._sessions = sessions

    async def event_stored(self, event: Event, result: IngestResult) -> None:
        """Write the points of a new event (a duplicate was written before)."""
        if not result.new:
            return
        delay = None
        data = event.data
        if isinstance(data, DoorOpened) and data.command_id is not None:
            delay = await self._unlock_delay(event, data.compartment, data.command_id)
        self._write(lambda: points.event_points(event, unlock_delay_s=delay), f"event {event.id}")

    async def status_applied(self, status: BoxStatus, changed: bool) -> None:
        """Write the box's connection state when it changed."""
        if changed:
            self._write(lambda: points.status_points(status, utcnow()), "status")

    async def snapshot_applied(self, snapshot: StateSnapshot, result: SnapshotResult) -> None:
        """Write every compartment's state from the snapshot."""
        self._write(lambda: points.snapshot_points(snapshot), "snapshot")

    async def telemetry_received(self, telemetry: Telemetry) -> None:
        """Write the box's health figures."""
        self._write(lambda: points.telemetry_points(telemetry), "telemetry")

    def _write(self, build: Callable[[], list[Point]], what: str) -> None:
        try:
            built = build()
        except PointError as exc:
            # A value InfluxDB cannot store (NaN, say): the message itself was stored.
            log.warning("telemetry: no points for %s: %s", what, exc)
            return
        self._writer.write(built)

    async def _unlock_delay(self, event: Event, compartment: int, command_id: uuid.UUID) -> float | None:
        if self._sessions is None:
            return None
        try:
            pulsed_at = await _pulse_time(self._sessions, event, compartment, command_id)
        except StorageError as exc:
            log.warning("telemetry: no unlock delay for box %s: %s", event.box_id, exc)
            return None
        return None if pulsed_at is None else (event.at - pulsed_at).total_seconds()


async def _pulse_time(
    sessions: async_sessionmaker[AsyncSession], event: Event, compartment: int, command_id: uuid.UUID
) -> datetime | None:
    """When the box first pulsed the lock for ``command_id`` (it pulses at most twice)."""
    # The pulses are recorded just before the door opens, so the (box_id, seq) index walks
    # back only a few rows.
    statement = (
        select(EventRow.occurred_at, EventRow.payload)
        .where(
            EventRow.box_id == event.box_id,
            EventRow.seq < event.seq,
            EventRow.kind == "lock_pulsed",
            EventRow.compartment == compartment,
        )
        .order_by(EventRow.seq.desc())
        .limit(2)
    )
    async with transaction(sessions) as session:
        rows = (await session.execute(statement)).all()
    times: list[datetime] = [
        row.occurred_at for row in rows if row.payload.get("command_id") == str(command_id)
    ]
    return min(times, default=None)
