"""E-mail delivery over SMTP (stdlib ``smtplib`` in a worker thread)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from pydantic import SecretStr

from docbox_cloud.notify.base import Notification, NotificationError
from docbox_cloud.notify.masking import mask_recipient


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to submit mail.

    Attributes:
        host: SMTP server.
        port: Port (25, 587 with STARTTLS, 465 with implicit TLS).
        sender: The From address.
        username: Login name; None: no authentication.
        password: Login password.
        security: ``starttls`` (upgrade before login), ``tls`` (implicit TLS) or ``none``
            (plain; only for a relay on the same host or tests).
        timeout_s: Socket timeout.
    """

    host: str
    port: int
    sender: str
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    security: Literal["starttls", "tls", "none"] = "starttls"
    timeout_s: float = 10.0


def build_message(notification: Notification, sender: str) -> EmailMessage:
    """Build the MIME message: text body plus attachments (multipart/mixed when there are any).

    A ``text/calendar`` attachment keeps its ``method`` parameter (e.g.
    ``text/calendar; method=REQUEST``), which mail clients need to offer "accept".
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.to
    message["Subject"] = notification.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(notification.text)
    for attachment in notification.attachments:
        main, _, rest = attachment.content_type.partition("/")
        subtype, *params = (part.strip() for part in rest.split(";"))
        message.add_attachment(
            attachment.data,
            maintype=main,
            subtype=subtype,
            filename=attachment.filename,
            params=dict(param.split("=", 1) for param in params if "=" in param),
        )
    # After set_content/add_attachment: both rewrite the Content-* headers of the top part.
    message["Content-Language"] = notification.language
    return message


class SmtpNotifier:
    """Send ``email`` notifications through an SMTP server.

    Args:
        config: Server and credentials.
    """

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    async def send(self, notification: Notification) -> None:
        """Submit one e-mail.

        Raises:
            NotificationError: if the channel is not ``email`` or the server refused or failed.
        """
        if notification.channel != "email":
            raise NotificationError(f"SmtpNotifier sends e-mail only, not {notification.channel!r}")
        message = build_message(notification, self._config.sender)
        try:
            await asyncio.to_thread(self._submit, message)
        except (smtplib.SMTPException, OSError) as exc:
            raise NotificationError(
                f"SMTP delivery of {notification.kind} to {mask_recipient(notification.to)} failed: "
                f"{exc.__class__.__name__}"
            ) from exc

    def _submit(self, message: EmailMessage) -> None:
        config = self._config
        client: smtplib.SMTP
        if config.security == "tls":
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout_s, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
        with client:
            if config.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config.username is not None:
                password = config.password.get_secret_value() if config.password else ""
                client.login(config.username, password)
            client.send_message(message)
