"""The command ledger: ids of commands the agent has acted on, for at-most-once execution.

An id is written and committed *before* the coil is energised, so a crash right after the
pulse cannot lead to a second pulse for the same command after a restart. Entries are kept
until well after the command expired (a replay of an expired command is rejected as expired
anyway) and then pruned.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta

from docbox_edge.errors import StoreError
from docbox_edge.store import transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executed_commands (
    id          TEXT PRIMARY KEY,
    expires_at  REAL NOT NULL,
    recorded_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS executed_commands_expiry ON executed_commands (expires_at);
"""

#: How long past its expiry an id is remembered. Far longer than any clock skew the
#: verifier tolerates, so a pruned id can never pass the expiry check again unless the
#: box clock jumps back by more than this.
DEFAULT_RETENTION = timedelta(days=1)


class Ledger:
    """Persistent set of executed command ids."""

    def __init__(self, conn: sqlite3.Connection, retention: timedelta = DEFAULT_RETENTION) -> None:
        """Use (and create the table of) the store ``conn``."""
        self._conn = conn
        self._retention = retention
        try:
            conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create ledger table: {exc}") from exc

    def claim(self, command_id: uuid.UUID, expires_at: datetime, now: datetime) -> bool:
        """Record ``command_id`` as executed; return False if it already was (a replay).

        The insert is committed (fsynced) before this returns True.
        """
        with transaction(self._conn) as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO executed_commands (id, expires_at, recorded_at) VALUES (?, ?, ?)",
                (str(command_id), expires_at.timestamp(), now.timestamp()),
            )
            return cur.rowcount == 1

    def seen(self, command_id: uuid.UUID) -> bool:
        """Tell whether ``command_id`` was ever claimed (and not yet pruned)."""
        row = self._conn.execute(
            "SELECT 1 FROM executed_commands WHERE id = ?", (str(command_id),)
        ).fetchone()
        return row is not None

    def prune(self, now: datetime) -> int:
        """Forget ids that expired more than the retention ago; return how many."""
        cutoff = (now - self._retention).timestamp()
        with transaction(self._conn) as conn:
            return conn.execute("DELETE FROM executed_commands WHERE expires_at < ?", (cutoff,)).rowcount

    def __len__(self) -> int:
        """Number of remembered ids."""
        return int(self._conn.execute("SELECT count(*) FROM executed_commands").fetchone()[0])
