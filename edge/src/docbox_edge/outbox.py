"""The durable outbox: every event is stored here before it is published, and deleted only
after the broker acknowledged it (principle 3, store and forward).

Sequence numbers come from a persistent counter in the ``meta`` table rather than from the
rows themselves, so a number is never reused even after every row was acknowledged and
deleted, or the agent restarted. The same table keeps the connection-session counter.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterable
from datetime import datetime

from docbox_edge.errors import StoreError
from docbox_edge.store import transaction
from docbox_protocol.codec import encode
from docbox_protocol.messages import Event, EventData, utcnow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('seq', 0), ('session', 0);
CREATE TABLE IF NOT EXISTS outbox (
    seq     INTEGER PRIMARY KEY,
    id      TEXT NOT NULL,
    payload BLOB NOT NULL
);
"""


class Outbox:
    """Durable, ordered queue of a box's events.

    All methods are synchronous and commit before they return; they are called from the
    event loop (events are rare, a commit takes about a millisecond on an SD card's WAL).

    Attributes:
        appended: set whenever an event is appended; the publisher clears it before it
            reads :meth:`pending`, so it wakes on new events without polling.
        acked: set whenever acknowledged events were deleted (for observers such as
            tests waiting for the outbox to drain).
    """

    def __init__(self, conn: sqlite3.Connection, box_id: str) -> None:
        """Use (and create the tables of) the store ``conn`` for box ``box_id``."""
        self._conn = conn
        self._box_id = box_id
        try:
            conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create outbox tables: {exc}") from exc
        self._session = self._meta("session")
        self.appended = asyncio.Event()
        self.acked = asyncio.Event()

    @property
    def box_id(self) -> str:
        """The box whose events this outbox holds."""
        return self._box_id

    @property
    def session(self) -> int:
        """The current connection session (0 before the first connection ever)."""
        return self._session

    def append(self, data: EventData, at: datetime | None = None) -> Event:
        """Store a new event and return it; it is committed (fsynced) when this returns.

        Args:
            data: what happened.
            at: when it happened (now if omitted).
        """
        with transaction(self._conn) as conn:
            (seq,) = conn.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'seq' RETURNING value"
            ).fetchone()
            event = Event(
                id=uuid.uuid4(),
                box_id=self._box_id,
                session=self._session,
                seq=seq,
                at=at or utcnow(),
                data=data,
            )
            conn.execute(
                "INSERT INTO outbox (seq, id, payload) VALUES (?, ?, ?)",
                (seq, str(event.id), encode(event)),
            )
        self.appended.set()
        return event

    def pending(self, limit: int = 256, after: int = 0) -> list[tuple[int, bytes]]:
        """Return up to ``limit`` unacknowledged events with ``seq > after``, oldest first."""
        try:
            rows = self._conn.execute(
                "SELECT seq, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read outbox: {exc}") from exc
        return [(int(seq), bytes(payload)) for seq, payload in rows]

    def ack(self, seq: int) -> None:
        """Delete the event ``seq``: the broker acknowledged it."""
        self.ack_many((seq,))

    def ack_many(self, seqs: Iterable[int]) -> None:
        """Delete several acknowledged events in one transaction (one fsync for a batch)."""
        batch = [(s,) for s in seqs]
        if not batch:
            return
        with transaction(self._conn) as conn:
            conn.executemany("DELETE FROM outbox WHERE seq = ?", batch)
        self.acked.set()

    def depth(self) -> int:
        """Number of events not yet acknowledged by the broker."""
        return int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def last_seq(self) -> int:
        """Sequence number of the newest event ever recorded (0 if none)."""
        return self._meta("seq")

    def next_session(self) -> int:
        """Advance and return the persistent session counter (call once per connection)."""
        with transaction(self._conn) as conn:
            (session,) = conn.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'session' RETURNING value"
            ).fetchone()
        self._session = int(session)
        return self._session

    def _meta(self, key: str) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"outbox meta key {key!r} missing")
        return int(row[0])
