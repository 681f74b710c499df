"""The append-only, hash-chained audit log of every handover step.

Each row's ``hash`` is ``sha256(canonical_json(row without hash) || prev_hash)`` (hex), where the
canonical JSON has sorted keys, no blanks and ISO timestamps; the first row's ``prev_hash`` is 64
zeros. Changing, inserting or deleting any row breaks the chain at that row, which
:func:`verify_chain` reports. Rows hold ids and hashes only, never personal data.

Appends are serialised (a PostgreSQL advisory lock for the transaction; SQLite's ``BEGIN
IMMEDIATE`` already serialises writers), so ``seq`` has no gaps.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.pickup.models import AuditEntry

GENESIS = "0" * 64
#: Arbitrary constant naming the advisory lock that serialises audit appends.
_LOCK_KEY = 0x646F63626F78  # "docbox"


def _canonical(entry: AuditEntry) -> bytes:
    body: dict[str, Any] = {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "action": entry.action,
        "document_id": str(entry.document_id) if entry.document_id else None,
        "box_id": entry.box_id,
        "compartment": entry.compartment,
        "actor": entry.actor,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: AuditEntry) -> str:
    """Return the hash a row must carry."""
    return hashlib.sha256(_canonical(entry) + entry.prev_hash.encode()).hexdigest()


async def append(
    session: AsyncSession,
    action: str,
    *,
    at: datetime,
    actor: str,
    document_id: uuid.UUID | None = None,
    box_id: str | None = None,
    compartment: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one row to the chain in the caller's transaction.

    Args:
        action: What happened (``registered``, ``loaded``, ``collected`` …).
        at: When; stored with microsecond precision (what both databases keep).
        actor: ``staff:<id>``, ``box:<id>``, ``api`` or ``system`` — never a person's name.
        detail: Further ids and hashes (JSON-serialisable; no personal data).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = (await session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))).first()
    entry = AuditEntry(
        seq=(last.seq + 1) if last else 1,
        at=at.astimezone(UTC),
        action=action,
        document_id=document_id,
        box_id=box_id,
        compartment=compartment,
        actor=actor,
        detail=detail or {},
        prev_hash=last.hash if last else GENESIS,
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of checking the chain: ``first_broken`` is None when every row checks out."""

    ok: bool
    checked: int
    first_broken: int | None = None
    problem: str | None = None


async def verify_chain(session: AsyncSession, *, batch: int = 5_000) -> ChainReport:
    """Recompute every hash in order and report the first row that does not match."""
    prev, expected_seq, checked = GENESIS, 1, 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.seq >= expected_seq).order_by(AuditEntry.seq).limit(batch)
            )
        ).all()
        if not rows:
            return ChainReport(ok=True, checked=checked)
        for row in rows:
            problem = _check(row, expected_seq, prev)
            if problem is not None:
                return ChainReport(ok=False, checked=checked, first_broken=row.seq, problem=problem)
            prev, expected_seq, checked = row.hash, expected_seq + 1, checked + 1


def _check(row: AuditEntry, expected_seq: int, prev: str) -> str | None:
    if row.seq != expected_seq:
        return f"row {expected_seq} is missing"
    if row.prev_hash != prev:
        return "prev_hash does not match the previous row's hash"
    if entry_hash(row) != row.hash:
        return "hash does not match the row's content"
    return None


async def case_entries(session: AsyncSession, document_id: uuid.UUID) -> Sequence[AuditEntry]:
    """Return the rows of one document, in order (each with its hashes, for an export)."""
    query = select(AuditEntry).where(AuditEntry.document_id == document_id).order_by(AuditEntry.seq)
    return (await session.scalars(query)).all()
