"""The pickup service's place in the running app: service, periodic job and webhook worker.

Both background loops call plain functions with an explicit ``now``
(:meth:`PickupService.run_job`, :func:`docbox_cloud.pickup.webhooks.deliver_due`), which the tests
drive directly. A failing round is logged and retried next period; it never ends the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.notify import Notifier, notifier_from_settings
from docbox_cloud.pickup import webhooks
from docbox_cloud.pickup.service import PickupService, PointSink
from docbox_cloud.settings import CloudSettings
from docbox_protocol.messages import utcnow

log = logging.getLogger(__name__)


class PickupRuntime:
    """Owns the :class:`PickupService` and its background tasks for the app's lifetime."""

    def __init__(
        self,
        settings: CloudSettings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        notifier: Notifier | None = None,
        telemetry: PointSink | None = None,
    ) -> None:
        self.settings = settings
        self.service = PickupService(
            settings, sessions, notifier or notifier_from_settings(settings), telemetry=telemetry
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None

    def start(self) -> None:
        """Start the periodic job and, when a webhook URL is configured, the delivery worker."""
        self._tasks.append(
            asyncio.create_task(
                every(self.settings.pickup_job_interval_s, self.service.run_job, "pickup job"),
                name="docbox-pickup-job",
            )
        )
        url, secret = self.settings.pickup_webhook_url, self.settings.pickup_webhook_secret
        if url is not None and secret is not None:
            self._http = httpx.AsyncClient(timeout=10)
            client, key = self._http, secret.get_secret_value().encode()

            async def deliver(now: datetime) -> None:
                await webhooks.deliver_due(
                    self.service.sessions,
                    client,
                    url=url,
                    secret=key,
                    now=now,
                    max_attempts=self.settings.pickup_webhook_max_attempts,
                )

            self._tasks.append(
                asyncio.create_task(
                    every(self.settings.pickup_webhook_interval_s, deliver, "webhook delivery"),
                    name="docbox-pickup-webhooks",
                )
            )

    async def aclose(self) -> None:
        """Stop the background tasks."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._http is not None:
            await self._http.aclose()


async def every(interval_s: float, round_: Callable[[datetime], Awaitable[object]], what: str) -> None:
    """Run ``round_(now)`` every ``interval_s`` seconds until cancelled; log failures and go on."""
    while True:
        try:
            await round_(utcnow())
        except Exception:
            # A database outage or a bug must not end the loop: the next round tries again.
            log.warning("%s round failed", what, exc_info=True)
        await asyncio.sleep(interval_s)
