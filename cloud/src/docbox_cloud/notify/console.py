"""A notifier that only logs (the demo, development): no personal data reaches the log."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from docbox_cloud.notify.base import Notification
from docbox_cloud.notify.masking import mask_recipient

log = logging.getLogger(__name__)


class ConsoleNotifier:
    """Log each notification's kind, masked recipient and subject; keep the last ones in memory.

    The text is never logged (it carries names, PINs, appointment details). The kept
    notifications are for inspection by the demo and tests, in this process only.

    Args:
        keep: How many of the latest notifications :attr:`sent` holds.
    """

    def __init__(self, keep: int = 100) -> None:
        self._sent: deque[Notification] = deque(maxlen=keep)
        self._changed = asyncio.Condition()

    @property
    def sent(self) -> list[Notification]:
        """The latest notifications, oldest first."""
        return list(self._sent)

    async def send(self, notification: Notification) -> None:
        """Log and keep ``notification``."""
        async with self._changed:
            self._sent.append(notification)
            self._changed.notify_all()
        log.info(
            "notification %s via %s to %s: %s (%d attachment(s))",
            notification.kind,
            notification.channel,
            mask_recipient(notification.to),
            notification.subject,
            len(notification.attachments),
        )

    async def wait_for(
        self, predicate: Callable[[Notification], bool], within_s: float = 10.0
    ) -> Notification:
        """Wait until a kept notification matches ``predicate`` and return the latest such one.

        Raises:
            TimeoutError: if none arrives within ``within_s`` seconds.
        """

        def latest() -> Notification | None:
            return next((n for n in reversed(self._sent) if predicate(n)), None)

        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: latest() is not None)
        found = latest()
        assert found is not None
        return found
