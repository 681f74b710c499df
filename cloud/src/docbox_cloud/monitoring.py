"""Composition of the cloud's monitoring: telemetry writer, alarm service, state reporter.

:class:`Monitoring` builds them from the settings, runs their background tasks and hands
the bridge its ingest observers. With ``influx_url`` unset (the demo) there is no telemetry,
and the alarms still work: stored, listed by the API and notified.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.alarms.service import AlarmPolicy, AlarmService, recipients_from_settings
from docbox_cloud.notify.base import Notifier
from docbox_cloud.notify.factory import notifier_from_settings
from docbox_cloud.observers import IngestObserver
from docbox_cloud.settings import CloudSettings
from docbox_cloud.telemetry import InfluxError, TelemetryWriter, writer_from_settings
from docbox_cloud.telemetry.observer import TelemetryObserver
from docbox_cloud.telemetry.state import StateReporter

log = logging.getLogger(__name__)


class Monitoring:
    """The telemetry writer (if configured), the alarm service and their tasks.

    Args:
        settings: The cloud settings.
        sessions: The cloud database.
        notifier: Sends alarm notifications; built from the settings when omitted.
        transport: httpx transport for InfluxDB (tests).
    """

    def __init__(
        self,
        settings: CloudSettings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        notifier: Notifier | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self.writer: TelemetryWriter | None = writer_from_settings(settings, transport=transport)
        if notifier is None:
            notifier = notifier_from_settings(settings)
        self.alarms = AlarmService(
            sessions,
            policy=AlarmPolicy.from_settings(settings),
            notifier=notifier,
            recipients=recipients_from_settings(settings),
            writer=self.writer,
            language=settings.alarm_language,
        )
        self.state_reporter: StateReporter | None = None
        observers: list[IngestObserver] = []
        if self.writer is not None:
            observers.append(TelemetryObserver(self.writer, sessions))
            if settings.telemetry_state_interval_s > 0:
                self.state_reporter = StateReporter(
                    sessions, self.writer, settings.telemetry_state_interval_s
                )
        observers.append(self.alarms)
        self.observers: tuple[IngestObserver, ...] = tuple(observers)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the background tasks (and create the InfluxDB database if configured to)."""
        if self.writer is not None:
            if self._settings.influx_create_database:
                try:
                    await self.writer.client.create_database()
                except InfluxError as exc:
                    # Not fatal: the writer keeps the points and retries.
                    log.warning("telemetry: cannot create InfluxDB database: %s", exc)
            self._spawn(self.writer.run(), "docbox-telemetry-writer")
            log.info(
                "telemetry to InfluxDB at %s, database %s",
                self.writer.client.url,
                self.writer.client.database,
            )
        else:
            log.info("telemetry disabled (DOCBOX_INFLUX_URL is unset)")
        if self.state_reporter is not None:
            self._spawn(self.state_reporter.run(), "docbox-telemetry-state")
        self._spawn(self.alarms.run(), "docbox-alarms")

    async def aclose(self) -> None:
        """Stop the tasks and flush the telemetry (for a few seconds at most)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.writer is not None:
            await self.writer.aclose()

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        task.add_done_callback(_report_crash)
        self._tasks.append(task)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s stopped", task.get_name(), exc_info=task.exception())
