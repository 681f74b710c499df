"""The agent's local SQLite database: one file in the data directory, WAL, fsync on commit.

The outbox and the command ledger share one connection. The agent is single-threaded
(asyncio), so every write is a short explicit transaction that is committed before the
calling function returns; nothing is ever left open across an ``await``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from docbox_edge.errors import StoreError

DB_FILENAME = "edge.db"


def open_store(data_dir: Path) -> sqlite3.Connection:
    """Open (creating if needed) the agent's database in ``data_dir``.

    ``journal_mode=WAL`` lets readers and the writer coexist and makes commits cheap;
    ``synchronous=FULL`` fsyncs the WAL on every commit, so an event or a ledger entry
    that was committed survives a power cut (NORMAL could lose the last commits).

    Raises:
        StoreError: if the directory or the database cannot be opened.
    """
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, transactions are explicit (see :func:`transaction`).
        conn = sqlite3.connect(data_dir / DB_FILENAME, isolation_level=None, check_same_thread=True)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"cannot switch {data_dir / DB_FILENAME} to WAL (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open store in {data_dir}: {exc}") from exc
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a block as one ``BEGIN IMMEDIATE … COMMIT``; roll back and raise StoreError on failure."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot begin transaction: {exc}") from exc
    try:
        yield conn
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise StoreError(f"store write failed: {exc}") from exc
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise StoreError(f"commit failed: {exc}") from exc
