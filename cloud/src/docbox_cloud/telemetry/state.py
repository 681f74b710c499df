"""Periodic full state points from the database: every box's and compartment's state.

Events, alarms and snapshots write state points as things change. Grafana's "now" panels
take the last value within the dashboard's time range, so a compartment that has not
changed for days would vanish from a short range; writing the whole state every few minutes
keeps every compartment visible in any range longer than that period.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.alarms.models import Alarm
from docbox_cloud.db import transaction
from docbox_cloud.errors import StorageError
from docbox_cloud.models import Box, Compartment
from docbox_cloud.telemetry import points
from docbox_cloud.telemetry.lineprotocol import Point
from docbox_cloud.telemetry.writer import TelemetryWriter
from docbox_protocol.messages import DoorPosition, utcnow

log = logging.getLogger(__name__)


async def state_points(session: AsyncSession, now: datetime) -> list[Point]:
    """``box_state`` and ``compartment_state`` points of every box and compartment, at ``now``."""
    alarms_by_box: dict[str, int] = defaultdict(int)
    alarms_by_compartment: dict[tuple[str, int], list[str]] = defaultdict(list)
    for alarm in await session.scalars(select(Alarm).where(Alarm.active_key.is_not(None))):
        alarms_by_box[alarm.box_id] += 1
        if alarm.compartment is not None:
            alarms_by_compartment[(alarm.box_id, alarm.compartment)].append(alarm.kind)
    result = [
        points.box_state(box.id, now, online=box.online, active_alarms=alarms_by_box[box.id])
        for box in await session.scalars(select(Box).order_by(Box.id))
    ]
    for compartment in await session.scalars(
        select(Compartment).order_by(Compartment.box_id, Compartment.number)
    ):
        result.append(
            points.compartment_state(
                compartment.box_id,
                compartment.number,
                now,
                door=DoorPosition(compartment.door),
                locked=compartment.locked,
                alarms=alarms_by_compartment.get((compartment.box_id, compartment.number), []),
            )
        )
    return result


class StateReporter:
    """Writes the full state every ``interval_s`` seconds.

    Args:
        sessions: The cloud database.
        writer: The telemetry writer.
        interval_s: Period.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], writer: TelemetryWriter, interval_s: float
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._sessions = sessions
        self._writer = writer
        self._interval_s = interval_s

    async def report(self, now: datetime | None = None) -> int:
        """Write the state now; return the number of points.

        Raises:
            StorageError: if the database failed.
        """
        async with transaction(self._sessions) as session:
            state = await state_points(session, now or utcnow())
        self._writer.write(state)
        return len(state)

    async def run(self) -> None:
        """Report at start and then every interval until cancelled."""
        while True:
            try:
                await self.report()
            except StorageError as exc:
                log.warning("telemetry: cannot read the state to report: %s", exc)
            await asyncio.sleep(self._interval_s)
