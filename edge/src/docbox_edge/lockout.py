"""Sign-in lockouts of the kiosk, kept in the agent's store so a restart does not reset them.

Two limits (docs/kiosk.md; configurable in :class:`~docbox_edge.agent.EdgeSettings`):

- per login: ``login_max_failures`` wrong secrets for one login within ``login_window_s``
  lock that login for ``login_lockout_s``;
- per box: ``box_max_failures`` failed sign-ins of any kind within ``box_window_s`` pause
  every sign-in at this kiosk for ``box_pause_s``.

A login is identified by the login hash of the grant it matched, never by what was typed.
Times are wall-clock seconds (monotonic time does not survive a restart).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from docbox_edge.errors import StoreError
from docbox_edge.store import transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS signin_failures (
    scope TEXT NOT NULL,
    at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS signin_failures_by_scope ON signin_failures (scope, at);
CREATE TABLE IF NOT EXISTS signin_lockouts (
    scope TEXT PRIMARY KEY,
    until REAL NOT NULL
);
"""

BOX_SCOPE = "box"


@dataclass(frozen=True, slots=True)
class LockoutLimits:
    """The configured limits (defaults as in docs/kiosk.md).

    Attributes:
        login_max_failures: Wrong secrets for one login that trigger its lockout.
        login_window_s: Period over which those failures are counted.
        login_lockout_s: How long the login stays locked.
        box_max_failures: Failed sign-ins (any reason) that pause the kiosk.
        box_window_s: Period over which those failures are counted.
        box_pause_s: How long sign-in stays paused at this box.
    """

    login_max_failures: int = 5
    login_window_s: float = 900.0
    login_lockout_s: float = 900.0
    box_max_failures: int = 20
    box_window_s: float = 600.0
    box_pause_s: float = 300.0


class Lockouts:
    """Counts failed sign-ins and answers whether a login or the whole box is locked."""

    def __init__(self, conn: sqlite3.Connection, limits: LockoutLimits) -> None:
        """Use (and create the tables of) the store ``conn``.

        Raises:
            StoreError: the tables cannot be created.
        """
        self._conn = conn
        self.limits = limits
        try:
            conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create lockout tables: {exc}") from exc

    def box_locked_until(self, now: float) -> float | None:
        """End of the box-wide pause (epoch seconds), or None if sign-in is open."""
        return self._locked_until(BOX_SCOPE, now)

    def login_locked_until(self, login_key: str, now: float) -> float | None:
        """End of the lockout of ``login_key`` (epoch seconds), or None."""
        return self._locked_until(_login_scope(login_key), now)

    def record_failure(self, now: float, login_key: str | None = None) -> None:
        """Count one failed sign-in for the box, and for ``login_key`` if a login matched.

        Locks the login and/or pauses the box when a limit is reached.

        Raises:
            StoreError: the write failed.
        """
        lim = self.limits
        scopes = [(BOX_SCOPE, lim.box_window_s, lim.box_max_failures, lim.box_pause_s)]
        if login_key is not None:
            scopes.append(
                (_login_scope(login_key), lim.login_window_s, lim.login_max_failures, lim.login_lockout_s)
            )
        with transaction(self._conn) as conn:
            for scope, window_s, limit, lock_s in scopes:
                conn.execute("INSERT INTO signin_failures (scope, at) VALUES (?, ?)", (scope, now))
                (count,) = conn.execute(
                    "SELECT count(*) FROM signin_failures WHERE scope = ? AND at > ?", (scope, now - window_s)
                ).fetchone()
                if count >= limit:
                    conn.execute(
                        "INSERT OR REPLACE INTO signin_lockouts (scope, until) VALUES (?, ?)",
                        (scope, now + lock_s),
                    )
                    # The count starts afresh after the lockout.
                    conn.execute("DELETE FROM signin_failures WHERE scope = ?", (scope,))

    def reset_login(self, login_key: str) -> None:
        """Forget the failures of ``login_key`` (after a successful sign-in)."""
        with transaction(self._conn) as conn:
            conn.execute("DELETE FROM signin_failures WHERE scope = ?", (_login_scope(login_key),))

    def prune(self, now: float) -> None:
        """Delete failures and lockouts too old to matter."""
        horizon = now - max(self.limits.login_window_s, self.limits.box_window_s)
        with transaction(self._conn) as conn:
            conn.execute("DELETE FROM signin_failures WHERE at <= ?", (horizon,))
            conn.execute("DELETE FROM signin_lockouts WHERE until <= ?", (now,))

    def _locked_until(self, scope: str, now: float) -> float | None:
        try:
            row = self._conn.execute("SELECT until FROM signin_lockouts WHERE scope = ?", (scope,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read lockouts: {exc}") from exc
        if row is None or float(row[0]) <= now:
            return None
        return float(row[0])


def _login_scope(login_key: str) -> str:
    return "login:" + login_key
