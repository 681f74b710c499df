"""Dispatch notifications to one driver per channel."""

from __future__ import annotations

from collections.abc import Mapping

from docbox_cloud.notify.base import Channel, Notification, NotificationError, Notifier


class RoutingNotifier:
    """Send each notification with the driver configured for its channel.

    Args:
        routes: Driver per channel.
        fallback: Driver for channels without a route; None: such notifications fail.
    """

    def __init__(self, routes: Mapping[Channel, Notifier], fallback: Notifier | None = None) -> None:
        self._routes = dict(routes)
        self._fallback = fallback

    async def send(self, notification: Notification) -> None:
        """Hand ``notification`` to its channel's driver.

        Raises:
            NotificationError: if no driver serves the channel, or the driver failed.
        """
        driver = self._routes.get(notification.channel, self._fallback)
        if driver is None:
            raise NotificationError(f"no notifier configured for channel {notification.channel!r}")
        await driver.send(notification)
