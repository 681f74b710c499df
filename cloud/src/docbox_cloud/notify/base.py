"""The notification interface every driver implements (e-mail, SMS, webhook, console).

Domain code (appointments, the pickup box) builds a :class:`Notification` and hands it to a
:class:`Notifier`; which transport carries it is decided by configuration
(:func:`docbox_cloud.notify.factory.notifier_from_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from docbox_cloud.errors import CloudError

Channel = Literal["email", "sms", "webhook"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a notification, e.g. an iCalendar invitation (``text/calendar``)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one recipient.

    Attributes:
        channel: Transport: ``email`` (``to`` is an address), ``sms`` (``to`` is a phone
            number in E.164 form), ``webhook`` (``to`` is a URL).
        to: The recipient.
        subject: Subject line (e-mail) or title.
        text: Plain-text body in ``language``.
        language: BCP 47 language tag of ``subject`` and ``text``.
        attachments: Files to attach (e-mail only; other channels ignore them).
        kind: What the message is about, for logs and statistics (e.g.
            ``appointment.confirmation``); never personal data.
    """

    channel: Channel
    to: str
    subject: str
    text: str
    language: str = "de"
    attachments: tuple[Attachment, ...] = ()
    kind: str = "generic"


class NotificationError(CloudError):
    """A notification could not be delivered (gateway refused it, server unreachable, …)."""


@runtime_checkable
class Notifier(Protocol):
    """Something that delivers notifications."""

    async def send(self, notification: Notification) -> None:
        """Deliver ``notification``.

        Raises:
            NotificationError: if it could not be delivered.
        """
        ...
