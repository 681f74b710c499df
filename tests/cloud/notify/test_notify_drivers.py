"""Notification drivers: console masking, HTTP drivers over a mock transport, routing, factory."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from docbox_cloud.errors import ConfigError
from docbox_cloud.notify import (
    Attachment,
    ConsoleNotifier,
    HttpSmsNotifier,
    Notification,
    NotificationError,
    Notifier,
    RoutingNotifier,
    SmtpNotifier,
    WebhookNotifier,
    mask_recipient,
    notifier_from_settings,
)
from docbox_cloud.settings import CloudSettings

EMAIL = Notification(
    channel="email",
    to="anna.schmidt@example.org",
    subject="Your appointment",
    text="Dear Anna Schmidt, PIN 123456",
    kind="appointment.confirmation",
)
SMS = Notification(
    channel="sms", to="+4915112345678", subject="PIN", text="Your PIN is 123456", kind="pickup.pin"
)


def test_notify_mask_recipient_hides_most_of_it() -> None:
    assert mask_recipient("anna.schmidt@example.org") == "a***@e***.org"
    assert mask_recipient("+4915112345678") == "+49*********78"
    assert mask_recipient("https://hooks.example.org/secret/path") == "https://hooks.example.org/…"
    assert mask_recipient("1234") == "****"


async def test_notify_console_logs_no_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    notifier = ConsoleNotifier(keep=2)
    caplog.set_level(logging.INFO, logger="docbox_cloud.notify")
    await notifier.send(EMAIL)
    await notifier.send(SMS)
    await notifier.send(EMAIL)
    logged = caplog.text
    assert "appointment.confirmation" in logged
    assert "a***@e***.org" in logged
    assert "anna.schmidt" not in logged
    assert "15112345678" not in logged
    assert "123456" not in logged
    assert notifier.sent == [SMS, EMAIL]
    assert isinstance(notifier, Notifier)


def _recording_transport(status: int = 200) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, json={"ok": status < 300})

    return httpx.MockTransport(handle), requests


async def test_notify_sms_posts_json_with_bearer_token() -> None:
    transport, requests = _recording_transport()
    notifier = HttpSmsNotifier("https://sms.example.test/send", SecretStr("tok-1"), transport=transport)
    await notifier.send(SMS)
    (request,) = requests
    assert request.method == "POST"
    assert str(request.url) == "https://sms.example.test/send"
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert json.loads(request.content) == {
        "to": "+4915112345678",
        "text": "Your PIN is 123456",
        "language": "de",
        "kind": "pickup.pin",
    }


async def test_notify_sms_gateway_error_is_translated_without_personal_data() -> None:
    transport, _ = _recording_transport(status=503)
    notifier = HttpSmsNotifier("https://sms.example.test/send", SecretStr("tok-1"), transport=transport)
    with pytest.raises(NotificationError, match="HTTP 503") as info:
        await notifier.send(SMS)
    assert "15112345678" not in str(info.value)


async def test_notify_sms_unreachable_gateway_is_a_notification_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    notifier = HttpSmsNotifier(
        "https://sms.example.test/send", SecretStr("t"), transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(NotificationError, match="ConnectError"):
        await notifier.send(SMS)


async def test_notify_drivers_refuse_foreign_channels() -> None:
    transport, requests = _recording_transport()
    with pytest.raises(NotificationError, match="SMS only"):
        await HttpSmsNotifier("https://x.test", SecretStr("t"), transport=transport).send(EMAIL)
    with pytest.raises(NotificationError, match="webhooks only"):
        await WebhookNotifier(transport=transport).send(SMS)
    assert requests == []


async def test_notify_webhook_posts_payload_with_attachments() -> None:
    transport, requests = _recording_transport()
    notifier = WebhookNotifier(transport=transport, headers={"X-Secret": "s"})
    hook = Notification(
        channel="webhook",
        to="https://hooks.example.test/in",
        subject="s",
        text="t",
        attachments=(Attachment("a.ics", "text/calendar", b"BEGIN:VCALENDAR"),),
        kind="k",
    )
    await notifier.send(hook)
    (request,) = requests
    body: dict[str, Any] = json.loads(request.content)
    assert request.headers["X-Secret"] == "s"
    assert body["kind"] == "k"
    assert body["attachments"] == [
        {"filename": "a.ics", "content_type": "text/calendar", "data_base64": "QkVHSU46VkNBTEVOREFS"}
    ]


async def test_notify_webhook_rejects_non_http_recipient() -> None:
    transport, requests = _recording_transport()
    bad = Notification(channel="webhook", to="file:///etc/passwd", subject="s", text="t")
    with pytest.raises(NotificationError, match="http"):
        await WebhookNotifier(transport=transport).send(bad)
    assert requests == []


async def test_notify_routing_dispatches_by_channel() -> None:
    email, sms = ConsoleNotifier(), ConsoleNotifier()
    router = RoutingNotifier({"email": email, "sms": sms})
    await router.send(EMAIL)
    await router.send(SMS)
    assert email.sent == [EMAIL]
    assert sms.sent == [SMS]
    with pytest.raises(NotificationError, match="webhook"):
        await router.send(Notification(channel="webhook", to="https://x.test", subject="s", text="t"))


def _settings(**values: Any) -> CloudSettings:
    return CloudSettings(_env_file=None, api_token="t", **values)


def test_notify_factory_defaults_to_console() -> None:
    assert isinstance(notifier_from_settings(_settings()), ConsoleNotifier)


async def test_notify_factory_routes_configured_channels() -> None:
    transport, requests = _recording_transport()
    notifier = notifier_from_settings(
        _settings(
            notify_smtp_host="mail.test", notify_sms_url="https://sms.test/send", notify_sms_token="tok"
        ),
        transport=transport,
    )
    assert isinstance(notifier, RoutingNotifier)
    await notifier.send(SMS)
    assert requests[0].headers["Authorization"] == "Bearer tok"
    assert isinstance(notifier._routes["email"], SmtpNotifier)


def test_notify_factory_requires_sms_token() -> None:
    with pytest.raises(ConfigError, match="notify_sms_token"):
        notifier_from_settings(_settings(notify_sms_url="https://sms.test/send"))
