"""A notifier that only logs (the demo, development): no personal data reaches the log."""

from __future__ import annotations

import logging
from collections import deque

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

    @property
    def sent(self) -> list[Notification]:
        """The latest notifications, oldest first."""
        return list(self._sent)

    async def send(self, notification: Notification) -> None:
        """Log and keep ``notification``."""
        self._sent.append(notification)
        log.info(
            "notification %s via %s to %s: %s (%d attachment(s))",
            notification.kind,
            notification.channel,
            mask_recipient(notification.to),
            notification.subject,
            len(notification.attachments),
        )
