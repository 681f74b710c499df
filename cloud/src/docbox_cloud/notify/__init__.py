"""Notifications to applicants and staff: one interface, drivers per transport.

Drivers: :class:`ConsoleNotifier` (demo; logs masked), :class:`SmtpNotifier` (e-mail),
:class:`HttpSmsNotifier` (SMS gateway), :class:`WebhookNotifier`, and :class:`RoutingNotifier`
that picks one per channel. :func:`notifier_from_settings` builds the configured one.
"""

from docbox_cloud.notify.base import Attachment, Channel, Notification, NotificationError, Notifier
from docbox_cloud.notify.console import ConsoleNotifier
from docbox_cloud.notify.factory import notifier_from_settings
from docbox_cloud.notify.http import HttpSmsNotifier, WebhookNotifier
from docbox_cloud.notify.masking import mask_recipient
from docbox_cloud.notify.routing import RoutingNotifier
from docbox_cloud.notify.smtp import SmtpConfig, SmtpNotifier

__all__ = [
    "Attachment",
    "Channel",
    "ConsoleNotifier",
    "HttpSmsNotifier",
    "Notification",
    "NotificationError",
    "Notifier",
    "RoutingNotifier",
    "SmtpConfig",
    "SmtpNotifier",
    "WebhookNotifier",
    "mask_recipient",
    "notifier_from_settings",
]
