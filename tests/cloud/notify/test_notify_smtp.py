"""SmtpNotifier against a real SMTP server (aiosmtpd) started by the test."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from docbox_cloud.notify import Attachment, Notification, NotificationError, SmtpConfig, SmtpNotifier
from tests.support.ports import free_port

INVITE = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


class _Inbox:
    """aiosmtpd handler that keeps every received message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"docbox" and auth_data.password == b"pw"
    # handled=False: let aiosmtpd answer a failure with 535 (handled=True would send nothing).
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Inbox]]:
    """A local SMTP server with AUTH (plain connection: loopback only) on a free port."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def _config(port: int, **overrides: Any) -> SmtpConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "termine@office.example",
        "username": "docbox",
        "password": SecretStr("pw"),
        "security": "none",
        "timeout_s": 5.0,
    }
    values.update(overrides)
    return SmtpConfig(**values)


async def test_notify_smtp_delivers_multipart_with_calendar(smtp_server: tuple[int, _Inbox]) -> None:
    port, inbox = smtp_server
    notification = Notification(
        channel="email",
        to="anna@example.org",
        subject="Termin bestätigt",
        text="Ihr Termin: 3. März, 09:12 Uhr",
        language="de",
        attachments=(Attachment("termin.ics", "text/calendar; method=REQUEST; charset=utf-8", INVITE),),
        kind="appointment.confirmation",
    )
    await SmtpNotifier(_config(port)).send(notification)

    (message,) = inbox.messages
    assert inbox.envelopes == [("termine@office.example", ["anna@example.org"])]
    assert message["Subject"] == "Termin bestätigt"
    assert message["Content-Language"] == "de"
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().strip() == "Ihr Termin: 3. März, 09:12 Uhr"
    (calendar,) = list(message.iter_attachments())
    assert calendar.get_content_type() == "text/calendar"
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_filename() == "termin.ics"
    assert calendar.get_payload(decode=True) == INVITE


async def test_notify_smtp_wrong_password_is_a_notification_error(smtp_server: tuple[int, _Inbox]) -> None:
    port, inbox = smtp_server
    notification = Notification(channel="email", to="anna@example.org", subject="s", text="t")
    with pytest.raises(NotificationError, match="SMTPAuthenticationError") as info:
        await SmtpNotifier(_config(port, password=SecretStr("wrong"))).send(notification)
    assert "anna@example.org" not in str(info.value)
    assert inbox.messages == []


async def test_notify_smtp_unreachable_server_is_a_notification_error() -> None:
    notification = Notification(channel="email", to="anna@example.org", subject="s", text="t")
    notifier = SmtpNotifier(_config(free_port(), username=None))
    with pytest.raises(NotificationError, match="failed"):
        await asyncio.wait_for(notifier.send(notification), timeout=10)
