"""Idempotency keys for POSTs: a retried request gets the first answer instead of a second effect.

The key is claimed by inserting a row *first* in the request's transaction. A concurrent
request with the same key blocks on that row until the first commits, then finds the stored
answer; if the first rolls back (its operation failed), the key is free again and the retry
runs normally. Failed operations are therefore not cached.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.appointments.errors import IdempotencyKeyReusedError, InvalidRequestError
from docbox_cloud.appointments.models import IdempotencyRecord

MAX_KEY_LENGTH = 200


def fingerprint(body: Any) -> bytes:
    """SHA-256 of the canonical JSON of a request body."""
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).digest()


async def claim(
    session: AsyncSession, scope: str, key: str, request_hash: bytes, now: datetime
) -> IdempotencyRecord | None:
    """Claim ``key`` in ``scope``; return the stored record if the request was answered before.

    Raises:
        InvalidRequestError: the key is empty or too long.
        IdempotencyKeyReusedError: the key was used with a different body.
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequestError(f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters")
    try:
        async with session.begin_nested():
            session.add(IdempotencyRecord(scope=scope, key=key, request_hash=request_hash, created_at=now))
            await session.flush()
    except IntegrityError:
        existing = await session.scalar(
            select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        )
        if existing is None:  # pragma: no cover - purged in between; extremely unlikely
            raise InvalidRequestError("Idempotency-Key conflict: retry") from None
        if not hmac.compare_digest(existing.request_hash, request_hash):
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was used with a different request body"
            ) from None
        return existing
    return None


async def store(
    session: AsyncSession, scope: str, key: str, status_code: int, response: dict[str, Any]
) -> None:
    """Record the answer of a claimed key (same transaction as the operation)."""
    record = await session.get(IdempotencyRecord, (scope, key))
    assert record is not None, "claim() first"
    record.status_code = status_code
    record.response = response


async def purge(session: AsyncSession, now: datetime, ttl: timedelta) -> int:
    """Forget keys older than ``ttl``; return how many."""
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - ttl))
    return int(getattr(result, "rowcount", 0) or 0)
