"""HTTP drivers: an SMS gateway (JSON + bearer token) and webhooks (JSON)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from pydantic import SecretStr

from docbox_cloud.notify.base import Notification, NotificationError
from docbox_cloud.notify.masking import mask_recipient

DEFAULT_TIMEOUT_S = 10.0


def notification_payload(notification: Notification) -> dict[str, Any]:
    """The JSON body both HTTP drivers post (attachments base64-encoded)."""
    return {
        "kind": notification.kind,
        "channel": notification.channel,
        "to": notification.to,
        "subject": notification.subject,
        "text": notification.text,
        "language": notification.language,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "data_base64": base64.b64encode(a.data).decode("ascii"),
            }
            for a in notification.attachments
        ],
    }


async def _post(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str], what: str
) -> None:
    try:
        response = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise NotificationError(f"{what} failed: {exc.__class__.__name__}") from exc
    if response.status_code >= 300:
        raise NotificationError(f"{what} failed: the gateway answered HTTP {response.status_code}")


class HttpSmsNotifier:
    """Send ``sms`` notifications by POSTing JSON to an SMS gateway with a bearer token.

    The body is ``{"to": "+49…", "text": "…", "language": "de", "kind": "…"}``; any 2xx answer
    counts as accepted.

    Args:
        url: The gateway's send endpoint.
        token: Bearer token.
        transport: httpx transport (tests inject ``httpx.MockTransport``).
        timeout_s: Request timeout.
    """

    def __init__(
        self,
        url: str,
        token: SecretStr,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._url = url
        self._token = token
        self._transport = transport
        self._timeout_s = timeout_s

    async def send(self, notification: Notification) -> None:
        """Post one SMS.

        Raises:
            NotificationError: if the channel is not ``sms`` or the gateway failed.
        """
        if notification.channel != "sms":
            raise NotificationError(f"HttpSmsNotifier sends SMS only, not {notification.channel!r}")
        body = {
            "to": notification.to,
            "text": notification.text,
            "language": notification.language,
            "kind": notification.kind,
        }
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s) as client:
            await _post(
                client,
                self._url,
                body,
                headers,
                f"SMS {notification.kind} to {mask_recipient(notification.to)}",
            )


class WebhookNotifier:
    """POST ``webhook`` notifications as JSON (:func:`notification_payload`) to ``notification.to``.

    Args:
        transport: httpx transport (tests inject ``httpx.MockTransport``).
        headers: Extra headers sent with every request (e.g. a shared secret).
        timeout_s: Request timeout.
    """

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._transport = transport
        self._headers = dict(headers or {})
        self._timeout_s = timeout_s

    async def send(self, notification: Notification) -> None:
        """Post one webhook call.

        Raises:
            NotificationError: if the channel is not ``webhook``, the URL is not http(s) or the
                receiver failed.
        """
        if notification.channel != "webhook":
            raise NotificationError(f"WebhookNotifier posts webhooks only, not {notification.channel!r}")
        if not notification.to.startswith(("https://", "http://")):
            raise NotificationError("a webhook recipient must be an http(s) URL")
        async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s) as client:
            await _post(
                client,
                notification.to,
                notification_payload(notification),
                self._headers,
                f"webhook {notification.kind} to {mask_recipient(notification.to)}",
            )
