"""A recording notifier (the facilities team's inbox) for the alarm tests."""

from __future__ import annotations

import asyncio

from docbox_cloud.notify.base import Notification, NotificationError


class RecordingNotifier:
    """Keeps every notification; fails the first ``failures`` sends."""

    def __init__(self, failures: int = 0) -> None:
        self.sent: list[Notification] = []
        self.failures = failures
        self.attempts = 0
        self._changed = asyncio.Event()

    async def send(self, notification: Notification) -> None:
        """Record, or fail while failures are left."""
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise NotificationError("gateway refused (simulated)")
        self.sent.append(notification)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(self, count: int) -> list[Notification]:
        """Wait until ``count`` notifications arrived; bound it with asyncio.timeout."""
        while len(self.sent) < count:
            await self._changed.wait()
        return self.sent
