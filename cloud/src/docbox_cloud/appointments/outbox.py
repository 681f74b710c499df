"""Notifications written in the booking's transaction and delivered after commit.

A booking and its message commit together, so a confirmed appointment is never left without
its confirmation, and a rolled-back one never sends one. Delivery retries with back-off;
rows are deleted once sent (they hold personal data).
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.appointments.models import OutboxMessage
from docbox_cloud.db import transaction
from docbox_cloud.notify import Attachment, Notification, NotificationError, Notifier

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


def serialise(notification: Notification) -> dict[str, Any]:
    """JSON form of a notification (attachments base64)."""
    return {
        "channel": notification.channel,
        "to": notification.to,
        "subject": notification.subject,
        "text": notification.text,
        "language": notification.language,
        "kind": notification.kind,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "data": base64.b64encode(a.data).decode(),
            }
            for a in notification.attachments
        ],
    }


def deserialise(payload: dict[str, Any]) -> Notification:
    """Inverse of :func:`serialise`."""
    return Notification(
        channel=payload["channel"],
        to=payload["to"],
        subject=payload["subject"],
        text=payload["text"],
        language=payload["language"],
        kind=payload["kind"],
        attachments=tuple(
            Attachment(a["filename"], a["content_type"], base64.b64decode(a["data"]))
            for a in payload["attachments"]
        ),
    )


def enqueue(session: AsyncSession, notification: Notification, now: datetime) -> None:
    """Add ``notification`` to the outbox in the caller's transaction."""
    session.add(
        OutboxMessage(
            kind=notification.kind,
            payload=serialise(notification),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession], notifier: Notifier, now: datetime, *, limit: int = 50
) -> int:
    """Send due messages; return how many were delivered.

    Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers share
    the outbox without sending a message twice. A failed delivery is retried with exponential
    back-off (capped at an hour) and logged as a warning without personal data.
    """
    delivered = 0
    async with transaction(sessions) as session:
        rows = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            try:
                await notifier.send(deserialise(row.payload))
            except NotificationError as exc:
                row.attempts += 1
                row.last_error = str(exc)[:500]
                row.next_attempt_at = now + min(
                    MAX_BACKOFF, timedelta(seconds=15 * 2 ** min(row.attempts, 12))
                )
                log.warning(
                    "notification %s (outbox %d) failed, attempt %d: %s", row.kind, row.id, row.attempts, exc
                )
                continue
            await session.execute(delete(OutboxMessage).where(OutboxMessage.id == row.id))
            delivered += 1
    return delivered
