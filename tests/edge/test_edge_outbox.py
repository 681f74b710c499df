"""The durable outbox and the command ledger: what survives a restart, and what is never reused."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from docbox_edge.ledger import Ledger
from docbox_edge.outbox import Outbox
from docbox_edge.store import DB_FILENAME, open_store
from docbox_protocol.codec import decode
from docbox_protocol.messages import DoorClosed, DoorOpened, Event, utcnow

BOX = "box-1"


class Reopenable:
    """Opens the store in one folder again and again, like agent restarts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._conns: list[sqlite3.Connection] = []

    def open(self) -> sqlite3.Connection:
        conn = open_store(self.data_dir)
        self._conns.append(conn)
        return conn

    def close_all(self) -> None:
        for conn in self._conns:
            conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Reopenable]:
    reopenable = Reopenable(tmp_path / "data")
    yield reopenable
    reopenable.close_all()


def test_store_uses_wal_and_full_sync(store: Reopenable) -> None:
    conn = store.open()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert (store.data_dir / DB_FILENAME).exists()


def test_append_assigns_id_seq_session_and_encodes_the_event(store: Reopenable) -> None:
    outbox = Outbox(store.open(), BOX)
    first = outbox.append(DoorOpened(compartment=3, forced=True))
    second = outbox.append(DoorClosed(compartment=3, open_ms=1200))

    assert (first.seq, second.seq) == (1, 2)
    assert first.id != second.id
    assert first.box_id == BOX
    assert first.session == 0
    rows = outbox.pending()
    assert [seq for seq, _ in rows] == [1, 2]
    assert decode(Event, rows[0][1]) == first
    assert outbox.appended.is_set()


def test_unacknowledged_events_survive_a_reopen(store: Reopenable) -> None:
    outbox = Outbox(store.open(), BOX)
    events = [outbox.append(DoorOpened(compartment=n, forced=True)) for n in range(1, 6)]
    outbox.ack(2)
    # No close: a killed process does not close its connection either.

    reopened = Outbox(store.open(), BOX)
    pending = reopened.pending()
    assert [seq for seq, _ in pending] == [1, 3, 4, 5]
    assert [decode(Event, payload).id for _, payload in pending] == [events[i].id for i in (0, 2, 3, 4)]
    assert reopened.depth() == 4


def test_seq_is_monotonic_across_acks_and_restarts(store: Reopenable) -> None:
    outbox = Outbox(store.open(), BOX)
    for n in range(3):
        outbox.append(DoorOpened(compartment=n + 1, forced=True))
    outbox.ack_many([1, 2, 3])
    assert outbox.depth() == 0
    assert outbox.last_seq() == 3

    # Everything acknowledged and deleted: the next number is still 4, also after a restart.
    assert outbox.append(DoorClosed(compartment=1)).seq == 4
    outbox.ack(4)
    reopened = Outbox(store.open(), BOX)
    assert reopened.last_seq() == 4
    assert reopened.append(DoorClosed(compartment=1)).seq == 5


def test_pending_pages_in_seq_order(store: Reopenable) -> None:
    outbox = Outbox(store.open(), BOX)
    for n in range(10):
        outbox.append(DoorClosed(compartment=n + 1))
    assert [s for s, _ in outbox.pending(limit=3)] == [1, 2, 3]
    assert [s for s, _ in outbox.pending(limit=3, after=3)] == [4, 5, 6]
    assert outbox.pending(limit=3, after=10) == []


def test_session_counter_persists_and_stamps_events(store: Reopenable) -> None:
    outbox = Outbox(store.open(), BOX)
    assert outbox.session == 0
    assert outbox.next_session() == 1
    assert outbox.next_session() == 2
    assert outbox.append(DoorClosed(compartment=1)).session == 2

    reopened = Outbox(store.open(), BOX)
    assert reopened.session == 2  # events recorded before the next connection keep the last one
    assert reopened.next_session() == 3


def test_ledger_claims_each_id_once_also_after_a_restart(store: Reopenable) -> None:
    ledger = Ledger(store.open())
    command_id = uuid.uuid4()
    now = utcnow()
    assert ledger.claim(command_id, now + timedelta(seconds=10), now)
    assert not ledger.claim(command_id, now + timedelta(seconds=10), now)

    restarted = Ledger(store.open())
    assert restarted.seen(command_id)
    assert not restarted.claim(command_id, now + timedelta(seconds=10), now)


def test_ledger_prunes_only_long_expired_ids(store: Reopenable) -> None:
    ledger = Ledger(store.open(), retention=timedelta(hours=1))
    now = utcnow()
    old, recent = uuid.uuid4(), uuid.uuid4()
    ledger.claim(old, now - timedelta(hours=2), now - timedelta(hours=2))
    ledger.claim(recent, now - timedelta(minutes=30), now - timedelta(minutes=30))
    assert ledger.prune(now) == 1
    assert not ledger.seen(old)
    assert ledger.seen(recent)
    assert len(ledger) == 1


def test_outbox_and_ledger_share_one_file(store: Reopenable) -> None:
    conn = store.open()
    outbox = Outbox(conn, BOX)
    ledger = Ledger(conn)
    outbox.append(DoorClosed(compartment=1))
    ledger.claim(uuid.uuid4(), utcnow(), utcnow())
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"outbox", "meta", "executed_commands"} <= tables
