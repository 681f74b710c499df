"""The box's pickup grants: stored in the agent's SQLite store so collection works offline.

The cloud pushes grants in signed ``grants`` commands (see :class:`GrantsAction`) and
withdraws them with ``revoke_grants``; the executor applies both here. A grant moves through

    installed ──claim (sign-in, before the pulse)──► claimed ──door seen open──► opened
        ──door shut──► completed (``pickup_completed`` in the outbox)

and is used at most once: a claimed grant is never offered again, even if its door jammed.

Reconciliation with the cloud (docs/kiosk.md): a grant the box has claimed is kept as a
tombstone, so a later full push (``replace_all``) that still lists it — because the cloud
has not yet received the pickup — cannot make it usable again. A tombstone is dropped once
a full push no longer lists it (the cloud has caught up) or when it is pruned.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from docbox_edge.errors import StoreError
from docbox_edge.store import transaction
from docbox_protocol.grants import GrantError, login_hash
from docbox_protocol.messages import GrantsAction, PickupGrant

_SCHEMA = """
CREATE TABLE IF NOT EXISTS grants (
    grant_id     TEXT PRIMARY KEY,
    compartment  INTEGER NOT NULL,
    lookup_salt  TEXT NOT NULL,
    login_hash   TEXT NOT NULL,
    secret_salt  TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    valid_from   TEXT NOT NULL,
    valid_until  TEXT NOT NULL,
    language     TEXT NOT NULL,
    claimed_at   TEXT,
    opened_at    TEXT,
    completed_at TEXT
);
CREATE INDEX IF NOT EXISTS grants_by_login ON grants (login_hash);
"""

#: Every column, in the order :func:`_grant` reads them.
_SELECT = (
    "SELECT grant_id, compartment, lookup_salt, login_hash, secret_salt, secret_hash, valid_from,"
    " valid_until, language, claimed_at, opened_at, completed_at FROM grants"
)


class GrantRefusal(StrEnum):
    """Why a grant cannot open its compartment now (nothing was energised)."""

    UNKNOWN_GRANT = "unknown_grant"
    ALREADY_USED = "already_used"
    NOT_VALID_NOW = "not_valid_now"
    UNKNOWN_COMPARTMENT = "unknown_compartment"
    DEFECTIVE = "defective"
    DOOR_ALREADY_OPEN = "door_already_open"
    HARDWARE_ERROR = "hardware_error"


@dataclass(frozen=True, slots=True)
class StoredGrant:
    """One grant as the box keeps it.

    Attributes:
        grant_id: The cloud's id of the grant.
        compartment: The compartment it opens.
        lookup_salt: Salt of ``login_hash`` (of the push that installed it).
        login_hash: Hash of the normalised login (phone number or case number).
        secret_salt: Salt of ``secret_hash``.
        secret_hash: scrypt of PIN and date of birth.
        valid_from: Start of validity.
        valid_until: End of validity.
        language: Kiosk language to switch to after sign-in.
        claimed_at: When a sign-in claimed it (before the pulse); None while unused.
        opened_at: When its door was seen open.
        completed_at: When its door was shut again (handed over).
    """

    grant_id: uuid.UUID
    compartment: int
    lookup_salt: str
    login_hash: str
    secret_salt: str
    secret_hash: str
    valid_from: datetime
    valid_until: datetime
    language: str
    claimed_at: datetime | None = None
    opened_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def usable(self) -> bool:
        """Not yet claimed by a sign-in."""
        return self.claimed_at is None

    def valid_at(self, now: datetime) -> bool:
        """Whether ``now`` lies in the validity window."""
        return self.valid_from <= now < self.valid_until


@dataclass(frozen=True, slots=True)
class AppliedGrants:
    """What a ``grants`` command changed.

    Attributes:
        installed: Grants inserted or updated.
        kept_used: Listed grants ignored because the box already used them (tombstones).
        removed: Unused grants deleted because a full push no longer listed them.
    """

    installed: int
    kept_used: int
    removed: int


class GrantStore:
    """The ``grants`` table of the agent's store.

    Every method is synchronous and commits before it returns (like the outbox).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        """Use (and create the table of) the store ``conn``.

        Raises:
            StoreError: the table cannot be created.
        """
        self._conn = conn
        try:
            conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create grants table: {exc}") from exc

    # ------------------------------------------------------------------ cloud → box

    def apply(self, action: GrantsAction) -> AppliedGrants:
        """Install the grants of ``action``; with ``replace_all`` atomically replace the set.

        A grant the box has already claimed is never reset by a push (it is reported as
        ``kept_used``). With ``replace_all``, unused grants not in the list are deleted, and
        so are tombstones of completed pickups the cloud no longer lists.

        Raises:
            StoreError: the write failed (nothing was changed).
        """
        listed = {str(g.grant_id) for g in action.grants}
        installed = kept = removed = 0
        with transaction(self._conn) as conn:
            used = {
                row[0] for row in conn.execute("SELECT grant_id FROM grants WHERE claimed_at IS NOT NULL")
            }
            for grant in action.grants:
                if str(grant.grant_id) in used:
                    kept += 1
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO grants (grant_id, compartment, lookup_salt, login_hash,"
                    " secret_salt, secret_hash, valid_from, valid_until, language)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _row(grant, action.lookup_salt),
                )
                installed += 1
            if action.replace_all:
                # A claimed grant whose pickup is not finished stays, listed or not: the
                # door may still be open, and its completion must be recorded.
                stale = [
                    gid
                    for (gid, claimed, completed) in conn.execute(
                        "SELECT grant_id, claimed_at, completed_at FROM grants"
                    )
                    if gid not in listed and (claimed is None or completed is not None)
                ]
                conn.executemany("DELETE FROM grants WHERE grant_id = ?", [(g,) for g in stale])
                removed = len(stale)
        return AppliedGrants(installed, kept, removed)

    def revoke(self, grant_ids: Iterable[uuid.UUID]) -> int:
        """Delete unused grants; return how many were deleted (used ones are kept).

        Raises:
            StoreError: the write failed.
        """
        with transaction(self._conn) as conn:
            cursor = conn.executemany(
                "DELETE FROM grants WHERE grant_id = ? AND claimed_at IS NULL",
                [(str(g),) for g in grant_ids],
            )
            return max(cursor.rowcount, 0)

    # ------------------------------------------------------------------ queries

    def get(self, grant_id: uuid.UUID) -> StoredGrant | None:
        """The grant ``grant_id``, or None."""
        row = self._query(_SELECT + " WHERE grant_id = ?", (str(grant_id),))
        return _grant(row[0]) if row else None

    def for_login(self, login: str) -> list[StoredGrant]:
        """Unused grants whose login hash matches ``login`` (already normalised or not).

        Each push may have used another lookup salt, so the login is hashed once per salt.
        """
        salts = [
            str(r[0]) for r in self._query("SELECT DISTINCT lookup_salt FROM grants WHERE claimed_at IS NULL")
        ]
        found: list[StoredGrant] = []
        for salt in salts:
            try:
                digest = login_hash(salt, login)
            except GrantError:
                return []  # not a login at all (normalisation refused it)
            rows = self._query(
                _SELECT + " WHERE login_hash = ? AND lookup_salt = ?"
                " AND claimed_at IS NULL ORDER BY compartment",
                (digest, salt),
            )
            found.extend(_grant(r) for r in rows)
        return found

    def count(self, *, usable_only: bool = True) -> int:
        """How many grants are stored (by default only the unused ones)."""
        sql = "SELECT count(*) FROM grants"
        if usable_only:
            sql = "SELECT count(*) FROM grants WHERE claimed_at IS NULL"
        return int(str(self._query(sql)[0][0]))

    def unfinished(self) -> list[StoredGrant]:
        """Grants whose door was seen open but whose completion was not recorded."""
        rows = self._query(_SELECT + " WHERE opened_at IS NOT NULL AND completed_at IS NULL")
        return [_grant(r) for r in rows]

    # ------------------------------------------------------------------ state changes

    def claim(self, grant_id: uuid.UUID, now: datetime) -> bool:
        """Mark the grant used (before its pulse); False if it is unknown or already used."""
        with transaction(self._conn) as conn:
            cursor = conn.execute(
                "UPDATE grants SET claimed_at = ? WHERE grant_id = ? AND claimed_at IS NULL",
                (now.isoformat(), str(grant_id)),
            )
            return cursor.rowcount == 1

    def mark_opened(self, grant_id: uuid.UUID, now: datetime) -> None:
        """Record that the grant's door was seen open."""
        self._update("UPDATE grants SET opened_at = ? WHERE grant_id = ?", (now.isoformat(), str(grant_id)))

    def mark_completed(self, grant_id: uuid.UUID, now: datetime) -> bool:
        """Record the handover; False if it was already recorded (so it is reported once)."""
        with transaction(self._conn) as conn:
            cursor = conn.execute(
                "UPDATE grants SET completed_at = ? WHERE grant_id = ? AND completed_at IS NULL",
                (now.isoformat(), str(grant_id)),
            )
            return cursor.rowcount == 1

    def prune(self, now: datetime, retention: timedelta) -> int:
        """Delete grants that expired, and finished tombstones, more than ``retention`` ago."""
        cutoff = now - retention
        with transaction(self._conn) as conn:
            rows = conn.execute(
                "SELECT grant_id, valid_until, opened_at, completed_at FROM grants"
            ).fetchall()
            old = [
                (gid,)
                for gid, until, opened, completed in rows
                if _prunable(until, opened, completed, cutoff)
            ]
            conn.executemany("DELETE FROM grants WHERE grant_id = ?", old)
        return len(old)

    # ------------------------------------------------------------------ helpers

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            return list(self._conn.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read grants: {exc}") from exc

    def _update(self, sql: str, params: tuple[object, ...]) -> None:
        with transaction(self._conn) as conn:
            conn.execute(sql, params)


def _row(grant: PickupGrant, lookup_salt: str) -> tuple[object, ...]:
    return (
        str(grant.grant_id),
        grant.compartment,
        lookup_salt,
        grant.login_hash,
        grant.secret_salt,
        grant.secret_hash,
        grant.valid_from.isoformat(),
        grant.valid_until.isoformat(),
        grant.language,
    )


def _prunable(until: object, opened: object, completed: object, cutoff: datetime) -> bool:
    # Compared as datetimes, not strings: stored values may carry different UTC offsets.
    if completed is not None:
        return _dt(completed) < cutoff
    if opened is not None:
        return False  # a pickup in progress: its completion must still be recorded
    return _dt(until) < cutoff


def _dt(text: object) -> datetime:
    return datetime.fromisoformat(str(text))


def _opt_dt(text: object) -> datetime | None:
    return None if text is None else _dt(text)


def _grant(row: tuple[object, ...]) -> StoredGrant:
    return StoredGrant(
        grant_id=uuid.UUID(str(row[0])),
        compartment=int(str(row[1])),
        lookup_salt=str(row[2]),
        login_hash=str(row[3]),
        secret_salt=str(row[4]),
        secret_hash=str(row[5]),
        valid_from=_dt(row[6]),
        valid_until=_dt(row[7]),
        language=str(row[8]),
        claimed_at=_opt_dt(row[9]),
        opened_at=_opt_dt(row[10]),
        completed_at=_opt_dt(row[11]),
    )
