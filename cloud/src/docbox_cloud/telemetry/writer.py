"""The telemetry writer: buffers points in memory and writes them to InfluxDB in batches.

Ingest hands points to :meth:`TelemetryWriter.write`, which only appends to a bounded
buffer: it never awaits, never raises for an InfluxDB problem and never blocks. A background
loop (:meth:`TelemetryWriter.run`) sends a batch when ``batch_size`` lines are buffered or
``flush_interval_s`` after the oldest unsent line arrived, gzip-compressed, and retries a
failed batch with capped exponential backoff.

While InfluxDB is down the buffer grows up to ``max_buffer`` lines; beyond that the
**oldest lines are dropped** (policy ``drop_oldest``), counted in :attr:`WriterStats.dropped`
and reported in the log once per outage. Telemetry is not the system of record (events,
alarms and compartment states are in PostgreSQL), so a long outage costs old graph points,
never memory or ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from docbox_cloud.backoff import Backoff
from docbox_cloud.telemetry.client import InfluxClient, InfluxError
from docbox_cloud.telemetry.lineprotocol import Point

log = logging.getLogger(__name__)

#: How the writer behaves when its buffer is full (the only policy implemented).
OVERFLOW_POLICY = "drop_oldest"


@dataclass(slots=True)
class WriterStats:
    """Counters of a :class:`TelemetryWriter` (lines are points).

    Attributes:
        accepted: Lines handed to :meth:`TelemetryWriter.write`.
        written: Lines InfluxDB acknowledged.
        dropped: Lines dropped because the buffer was full (oldest first).
        rejected: Lines InfluxDB refused for good (unparsable, field type conflict).
        batches: Batches written.
        failures: Failed write attempts (each is retried unless rejected).
        buffered: Lines waiting now.
    """

    accepted: int = 0
    written: int = 0
    dropped: int = 0
    rejected: int = 0
    batches: int = 0
    failures: int = 0
    buffered: int = 0


class TelemetryWriter:
    """Buffers points and writes them to InfluxDB in the background.

    Args:
        client: The InfluxDB client (owned: :meth:`aclose` closes it).
        batch_size: Most lines per request (InfluxDB suggests 5,000-10,000).
        flush_interval_s: Longest time a line waits before its batch is sent.
        max_buffer: Most lines held while InfluxDB is slow or down; the oldest go first.
        backoff: Delays between retries of a failed batch.
        clock: Monotonic clock (tests).
    """

    def __init__(
        self,
        client: InfluxClient,
        *,
        batch_size: int = 5_000,
        flush_interval_s: float = 1.0,
        max_buffer: int = 100_000,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size:
            raise ValueError("need 1 <= batch_size <= max_buffer")
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be positive")
        self.client = client
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_buffer = max_buffer
        self._backoff = backoff or Backoff(initial=0.5, maximum=30.0)
        self._clock = clock
        self._buffer: deque[str] = deque()
        #: Number of the line at the head of the buffer (lines are numbered as they come).
        self._head = 0
        #: Monotonic time at which the oldest buffered line arrived.
        self._oldest_at: float | None = None
        self._wakeup = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._stats = WriterStats()
        self._failing = False
        self._dropped_in_outage = 0
        self._changed = asyncio.Event()

    @property
    def stats(self) -> WriterStats:
        """The counters (``buffered`` is current)."""
        self._stats.buffered = len(self._buffer)
        return self._stats

    @property
    def overflow_policy(self) -> str:
        """What happens when the buffer is full: ``drop_oldest``."""
        return OVERFLOW_POLICY

    def write(self, points: Iterable[Point]) -> None:
        """Queue points for writing; returns at once (never awaits, never blocks).

        Points are encoded here, so a later change to their inputs cannot affect them.
        """
        was_empty = not self._buffer
        added = 0
        for point in points:
            self._buffer.append(point.to_line())
            added += 1
        if not added:
            return
        self._stats.accepted += added
        if self._oldest_at is None:
            self._oldest_at = self._clock()
        overflow = len(self._buffer) - self._max_buffer
        if overflow > 0:
            for _ in range(overflow):
                self._buffer.popleft()
            self._head += overflow
            self._stats.dropped += overflow
            if self._dropped_in_outage == 0:
                log.warning(
                    "telemetry buffer full (%d lines): dropping the oldest points until InfluxDB "
                    "accepts writes again",
                    self._max_buffer,
                )
            self._dropped_in_outage += overflow
        # Wake the sender to start the flush timer, or to send a full batch at once.
        if was_empty or len(self._buffer) >= self._batch_size:
            self._wakeup.set()

    async def wait_until(self, predicate: Callable[[WriterStats], bool]) -> None:
        """Wait until ``predicate(stats)`` holds (checked after every send); bound it with a timeout."""
        while not predicate(self.stats):
            await self._changed.wait()

    def _notify(self) -> None:
        # Waiters hold the old event: setting it wakes them, and they wait on the new one.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def run(self) -> None:
        """Send batches until cancelled; retry failures with backoff."""
        while True:
            await self._wait_for_batch()
            try:
                await self._send_batch()
            except InfluxError as exc:
                self._note_failure(exc)
                await asyncio.sleep(self._backoff.next_delay())

    async def flush(self) -> None:
        """Write everything buffered now, batch by batch (tests, shutdown).

        Raises:
            InfluxError: if a batch could not be written (it stays buffered if retryable).
        """
        while self._buffer:
            await self._send_batch()

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Try to flush within ``timeout_s`` (what cannot be written is dropped), then close."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.flush()
        except (TimeoutError, InfluxError) as exc:
            if self._buffer:
                log.warning("telemetry: %d points not written at shutdown: %s", len(self._buffer), exc)
        finally:
            with contextlib.suppress(Exception):
                await self.client.aclose()

    async def _wait_for_batch(self) -> None:
        while True:
            if len(self._buffer) >= self._batch_size:
                return
            if self._oldest_at is not None:
                remaining = self._oldest_at + self._flush_interval_s - self._clock()
                if remaining <= 0:
                    return
            else:
                remaining = None
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)

    async def _send_batch(self) -> None:
        async with self._send_lock:
            if not self._buffer:
                self._oldest_at = None
                return
            count = min(self._batch_size, len(self._buffer))
            # Snapshot, not pop: a failed batch stays at the head of the buffer, where the
            # overflow policy may still drop it while InfluxDB is down.
            body = "\n".join(self._buffer[i] for i in range(count)).encode()
            end = self._head + count
            try:
                await self.client.write(body)
            except InfluxError as exc:
                if exc.retryable:
                    raise
                self._remove_sent(end)
                self._stats.rejected += count
                log.warning("telemetry: InfluxDB rejected a batch of %d points for good: %s", count, exc)
                self._notify()
                return
            self._remove_sent(end)
            self._stats.written += count
            self._stats.batches += 1
            if self._failing:
                log.info(
                    "telemetry: InfluxDB accepts writes again (%d points dropped meanwhile)",
                    self._dropped_in_outage,
                )
            self._failing = False
            self._dropped_in_outage = 0
            self._backoff.reset()
            self._notify()

    def _remove_sent(self, end: int) -> None:
        """Remove buffered lines numbered below ``end`` (the batch just sent)."""
        # While the request was in flight the overflow policy may have dropped some of the
        # batch already (the head moved on): only what is left of it goes now.
        for _ in range(max(0, min(end - self._head, len(self._buffer)))):
            self._buffer.popleft()
            self._head += 1
        self._oldest_at = self._clock() if self._buffer else None

    def _note_failure(self, exc: InfluxError) -> None:
        self._stats.failures += 1
        if not self._failing:
            log.warning("telemetry: cannot write to InfluxDB, buffering and retrying: %s", exc)
        else:
            log.debug("telemetry: write retry failed: %s", exc)
        self._failing = True
        self._notify()
