"""Build the notifier the settings describe."""

from __future__ import annotations

import httpx

from docbox_cloud.errors import ConfigError
from docbox_cloud.notify.base import Channel, Notifier
from docbox_cloud.notify.console import ConsoleNotifier
from docbox_cloud.notify.http import HttpSmsNotifier, WebhookNotifier
from docbox_cloud.notify.routing import RoutingNotifier
from docbox_cloud.notify.smtp import SmtpConfig, SmtpNotifier
from docbox_cloud.settings import CloudSettings


def notifier_from_settings(
    settings: CloudSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Notifier:
    """Return the notifier for ``settings``.

    E-mail goes over SMTP when ``notify_smtp_host`` is set, SMS to the gateway when
    ``notify_sms_url`` is set, webhooks always by HTTP POST. With neither SMTP nor SMS
    configured everything goes to a :class:`ConsoleNotifier` (the demo's default); a channel
    left unconfigured otherwise falls back to the console too.

    Args:
        settings: The cloud settings.
        transport: httpx transport for the HTTP drivers (tests).

    Raises:
        ConfigError: if the SMS gateway URL is set without a token.
    """
    console = ConsoleNotifier()
    if settings.notify_smtp_host is None and settings.notify_sms_url is None:
        return console
    routes: dict[Channel, Notifier] = {"webhook": WebhookNotifier(transport=transport)}
    if settings.notify_smtp_host is not None:
        routes["email"] = SmtpNotifier(
            SmtpConfig(
                host=settings.notify_smtp_host,
                port=settings.notify_smtp_port,
                sender=settings.notify_smtp_sender,
                username=settings.notify_smtp_username,
                password=settings.notify_smtp_password,
                security=settings.notify_smtp_security,
            )
        )
    if settings.notify_sms_url is not None:
        if settings.notify_sms_token is None:
            raise ConfigError("notify_sms_url is set: notify_sms_token is required")
        routes["sms"] = HttpSmsNotifier(
            settings.notify_sms_url, settings.notify_sms_token, transport=transport
        )
    return RoutingNotifier(routes, fallback=console)
