"""Signed webhooks to the office's case-management system, through a durable outbox.

Each handover event is written to ``pickup_webhooks`` in the same transaction as the change it
reports, so none is lost. :func:`deliver_due` posts due rows: the body is JSON, the headers are

* ``Docbox-Idempotency-Key``: the row id (the same on every retry — the receiver deduplicates),
* ``Docbox-Timestamp``: Unix seconds of this attempt (receivers reject old ones: replay),
* ``Docbox-Signature``: ``sha256=<hex HMAC-SHA256(secret, timestamp || "." || body)>``.

A 2xx answer marks the row delivered; anything else is retried with exponential backoff
(capped at one hour) until ``pickup_webhook_max_attempts``, then the row is marked failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.db import transaction
from docbox_cloud.pickup.models import WebhookDelivery

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Docbox-Signature"
TIMESTAMP_HEADER = "Docbox-Timestamp"
IDEMPOTENCY_HEADER = "Docbox-Idempotency-Key"
_MAX_DELAY = timedelta(hours=1)


def enqueue(session: AsyncSession, event: str, data: dict[str, Any], *, now: datetime) -> WebhookDelivery:
    """Add a webhook to the outbox in the caller's transaction (ids only in ``data``)."""
    delivery_id = uuid.uuid4()
    body = {"id": str(delivery_id), "event": event, "at": now.isoformat(), "data": data}
    row = WebhookDelivery(
        id=delivery_id,
        event=event,
        body=json.dumps(body, sort_keys=True, separators=(",", ":")),
        created_at=now,
        attempts=0,
        next_attempt_at=now,
        failed=False,
    )
    session.add(row)
    return row


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """Return the ``Docbox-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: bytes, headers: dict[str, str], body: bytes, *, now: datetime, tolerance_s: float = 300
) -> bool:
    """Receiver side: check signature and freshness (the case system can use this reference)."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), headers.get(SIGNATURE_HEADER, ""))


def retry_delay(attempts: int) -> timedelta:
    """Delay before the next attempt after ``attempts`` failed ones: 5 s, 10 s, 20 s … at most 1 h."""
    return min(timedelta(seconds=5 * 2 ** min(attempts - 1, 20)), _MAX_DELAY)


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: bytes,
    now: datetime,
    max_attempts: int,
    limit: int = 100,
) -> int:
    """Post every due webhook once; return how many were delivered now.

    Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several replicas can run
    the worker without posting the same row twice at the same time.
    """
    delivered = 0
    async with transaction(sessions) as session:
        query = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.delivered_at.is_(None),
                WebhookDelivery.failed.is_(False),
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        for row in (await session.scalars(query)).all():
            error = await _post(client, url, secret, row, now)
            row.attempts += 1
            if error is None:
                row.delivered_at = now
                row.last_error = None
                delivered += 1
                continue
            row.last_error = error[:200]
            if row.attempts >= max_attempts:
                row.failed = True
                log.warning(
                    "webhook %s (%s) given up after %d attempts: %s", row.id, row.event, row.attempts, error
                )
            else:
                row.next_attempt_at = now + retry_delay(row.attempts)
                log.info("webhook %s (%s) attempt %d failed: %s", row.id, row.event, row.attempts, error)
    return delivered


async def _post(
    client: httpx.AsyncClient, url: str, secret: bytes, row: WebhookDelivery, now: datetime
) -> str | None:
    body = row.body.encode()
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: str(row.id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.is_success:
        return None
    return f"HTTP {response.status_code}"
