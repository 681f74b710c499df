"""The appointment service inside the API process: keys, limiters, notifier, background worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.appointments import outbox
from docbox_cloud.appointments.config import AppointmentSettings
from docbox_cloud.appointments.context import AppointmentContext
from docbox_cloud.appointments.ratelimit import TokenBucketLimiter
from docbox_cloud.appointments.retention import housekeeping
from docbox_cloud.db import transaction
from docbox_cloud.errors import CloudError
from docbox_cloud.notify import Notifier, notifier_from_settings
from docbox_cloud.settings import CloudSettings

log = logging.getLogger(__name__)

#: How long shutdown waits for the worker's current pass.
STOP_TIMEOUT_S = 10.0


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


class AppointmentRuntime:
    """Process-wide state of the appointment service.

    Args:
        ctx: Settings and keys.
        notifier: Where messages go.
        clock: Wall clock (tests pin it).
        monotonic: Clock of the rate limiters.
    """

    def __init__(
        self,
        ctx: AppointmentContext,
        notifier: Notifier,
        *,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.notifier = notifier
        self.clock = clock
        self.monotonic = monotonic
        self.ip_limiter = TokenBucketLimiter(settings.ip_burst, settings.ip_per_minute / 60, name="address")
        self.person_limiter = TokenBucketLimiter(
            settings.person_burst, settings.person_per_hour / 3600, name="person"
        )
        self._wake = asyncio.Event()
        self._stopping = False

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> AppointmentRuntime:
        """Build from the cloud settings plus ``DOCBOX_APPT_*`` variables."""
        ctx = AppointmentContext.create(AppointmentSettings(), settings.api_token)
        return cls(ctx, notifier_from_settings(settings))

    def kick(self) -> None:
        """Ask the worker to deliver queued messages now (called after a commit)."""
        self._wake.set()

    def stop(self) -> None:
        """Ask :meth:`run` to return after its current pass (no cancellation mid-transaction)."""
        self._stopping = True
        self._wake.set()

    async def run_once(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """One housekeeping pass and one delivery pass."""
        async with transaction(sessions) as session:
            await housekeeping(session, self.ctx, self.clock())
        while await outbox.deliver_due(sessions, self.notifier, self.clock()):
            pass

    async def run(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Deliver messages when kicked, and do housekeeping every ``worker_interval_s``."""
        interval = self.ctx.settings.worker_interval_s
        last_housekeeping = -interval
        while not self._stopping:
            try:
                if self.monotonic() - last_housekeeping >= interval:
                    async with transaction(sessions) as session:
                        await housekeeping(session, self.ctx, self.clock())
                    last_housekeeping = self.monotonic()
                while await outbox.deliver_due(sessions, self.notifier, self.clock()):
                    pass
            except CloudError as exc:
                # The database may be briefly away: try again on the next tick.
                log.warning("appointment worker pass failed: %s", exc)
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()


@contextlib.asynccontextmanager
async def appointments_running(app: FastAPI) -> AsyncIterator[None]:
    """Run the appointment worker for the lifetime of ``app`` (needs ``app.state.sessions``)."""
    runtime: AppointmentRuntime = app.state.appointments
    task = asyncio.create_task(runtime.run(app.state.sessions), name="docbox-appointments-worker")
    task.add_done_callback(_report_crash)
    try:
        yield
    finally:
        # Let the current pass finish: cancelling inside a transaction leaves a connection
        # that the pool then fails to close.
        runtime.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=STOP_TIMEOUT_S)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the appointment worker stopped", exc_info=task.exception())
