"""The lockout counters on their own: windows, limits, pruning, persistence."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from docbox_edge.lockout import LockoutLimits, Lockouts
from docbox_edge.store import open_store

LIMITS = LockoutLimits(
    login_max_failures=3,
    login_window_s=100,
    login_lockout_s=50,
    box_max_failures=5,
    box_window_s=100,
    box_pause_s=30,
)
T0 = 1_800_000_000.0


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    c = open_store(data_dir)
    yield c
    c.close()


def test_failures_outside_the_window_do_not_count(conn: sqlite3.Connection) -> None:
    lockouts = Lockouts(conn, LIMITS)
    lockouts.record_failure(T0, "a")
    lockouts.record_failure(T0 + 1, "a")
    lockouts.record_failure(T0 + 150, "a")  # the first two are older than 100 s by now
    assert lockouts.login_locked_until("a", T0 + 150) is None
    lockouts.record_failure(T0 + 151, "a")
    assert lockouts.login_locked_until("a", T0 + 151) is None
    lockouts.record_failure(T0 + 152, "a")  # three within 100 s
    assert lockouts.login_locked_until("a", T0 + 152) == T0 + 152 + 50
    assert lockouts.login_locked_until("a", T0 + 203) is None, "the lockout ends"
    assert lockouts.login_locked_until("b", T0 + 152) is None, "other logins are not affected"


def test_the_box_pauses_after_its_limit_and_the_count_starts_afresh(conn: sqlite3.Connection) -> None:
    lockouts = Lockouts(conn, LIMITS)
    for i in range(LIMITS.box_max_failures - 1):
        lockouts.record_failure(T0 + i)
    assert lockouts.box_locked_until(T0 + 10) is None
    lockouts.record_failure(T0 + 10)
    assert lockouts.box_locked_until(T0 + 10) == T0 + 40
    assert lockouts.box_locked_until(T0 + 41) is None
    lockouts.record_failure(T0 + 41)
    assert lockouts.box_locked_until(T0 + 41) is None, "failures before the pause no longer count"


def test_reset_and_prune(conn: sqlite3.Connection) -> None:
    lockouts = Lockouts(conn, LIMITS)
    lockouts.record_failure(T0, "a")
    lockouts.record_failure(T0, "a")
    lockouts.reset_login("a")
    lockouts.record_failure(T0 + 1, "a")
    assert lockouts.login_locked_until("a", T0 + 1) is None
    lockouts.prune(T0 + 1000)
    (failures,) = conn.execute("SELECT count(*) FROM signin_failures").fetchone()
    assert failures == 0


def test_lockouts_survive_a_restart(data_dir: Path) -> None:
    first = open_store(data_dir)
    for i in range(LIMITS.login_max_failures):
        Lockouts(first, LIMITS).record_failure(T0 + i, "a")
    first.close()
    second = open_store(data_dir)
    try:
        assert Lockouts(second, LIMITS).login_locked_until("a", T0 + 10) == T0 + 2 + 50
    finally:
        second.close()
