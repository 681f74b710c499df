"""What the MQTT bridge tells other parts after it stored a message: the ingest observers.

The telemetry writer and the alarm service watch ingest through this interface. The bridge
calls every observer after the message's transaction committed and before it acknowledges
the message; :func:`notify_observers` shields ingest from them: an observer that raises is
logged and skipped, so a failing InfluxDB, notifier or bug there never fails or repeats the
ingest of a message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from docbox_cloud.ingest import IngestResult, SnapshotResult
from docbox_protocol.messages import BoxStatus, Event, StateSnapshot, Telemetry

log = logging.getLogger(__name__)


class IngestObserver(Protocol):
    """Receives what ingest stored. Implementations must return quickly and not raise."""

    async def event_stored(self, event: Event, result: IngestResult) -> None:
        """An event was stored (``result.new``) or recognised as a duplicate."""

    async def status_applied(self, status: BoxStatus, changed: bool) -> None:
        """A birth or will was applied; ``changed`` is False for a stale or repeated one."""

    async def snapshot_applied(self, snapshot: StateSnapshot, result: SnapshotResult) -> None:
        """A state snapshot was applied."""

    async def telemetry_received(self, telemetry: Telemetry) -> None:
        """A telemetry sample arrived (it is not stored in the database)."""


async def notify_observers(
    observers: Sequence[IngestObserver],
    call: Callable[[IngestObserver], Awaitable[None]],
    what: str,
) -> None:
    """Call ``call(observer)`` for each observer; log and skip any that raises."""
    for observer in observers:
        try:
            await call(observer)
        except Exception:
            # A bug in an observer: the message itself is stored, so go on with the next.
            log.exception("ingest observer %s failed on %s", type(observer).__name__, what)
