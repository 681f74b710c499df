"""The grant store: installing, replacing, revoking, claiming, and the reconciliation tombstones."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from docbox_edge.grants import GrantStore
from docbox_edge.store import open_store
from docbox_protocol.grants import new_salt
from docbox_protocol.messages import utcnow
from tests.edge.grant_helpers import ALICE, BOB, grants_action, make_grant


@pytest.fixture
def conn(data_dir: Path) -> Iterator[sqlite3.Connection]:
    c = open_store(data_dir)
    yield c
    c.close()


@pytest.fixture
def store(conn: sqlite3.Connection) -> GrantStore:
    return GrantStore(conn)


def test_installed_grants_are_found_by_the_login_in_any_spelling(store: GrantStore) -> None:
    g1, g2, g3 = make_grant(1, ALICE), make_grant(2, ALICE), make_grant(3, BOB)
    applied = store.apply(grants_action(g1, g2, g3))
    assert (applied.installed, applied.kept_used, applied.removed) == (3, 0, 0)
    for spelling in ("+49 171 2345678", "0171-2345678", "004917 12345678", "(0171) 234 56 78"):
        assert [g.grant_id for g in store.for_login(spelling)] == [g1.grant_id, g2.grant_id]
    assert [g.grant_id for g in store.for_login("ab-2026/123")] == [g3.grant_id]
    assert store.for_login("+49 171 9999999") == []
    assert store.for_login("not a login !!") == []


def test_grants_of_pushes_with_different_lookup_salts_are_all_found(store: GrantStore) -> None:
    other_salt = new_salt()
    g1 = make_grant(1, ALICE)
    g2 = make_grant(2, ALICE, lookup_salt=other_salt)
    store.apply(grants_action(g1))
    store.apply(grants_action(g2, lookup_salt=other_salt))
    assert {g.grant_id for g in store.for_login(ALICE.login)} == {g1.grant_id, g2.grant_id}


def test_a_stored_grant_keeps_every_field(store: GrantStore) -> None:
    grant = make_grant(7, BOB, language="uk")
    store.apply(grants_action(grant))
    stored = store.get(grant.grant_id)
    assert stored is not None
    assert stored.compartment == 7
    assert stored.secret_salt == grant.secret_salt
    assert stored.secret_hash == grant.secret_hash
    assert stored.login_hash == grant.login_hash
    assert stored.valid_from == grant.valid_from
    assert stored.valid_until == grant.valid_until
    assert stored.language == "uk"
    assert stored.usable


def test_replace_all_replaces_the_whole_set(store: GrantStore) -> None:
    old1, old2, new = make_grant(1), make_grant(2), make_grant(3, BOB)
    store.apply(grants_action(old1, old2))
    applied = store.apply(grants_action(old2, new, replace_all=True))
    assert (applied.installed, applied.removed) == (2, 1)
    assert store.get(old1.grant_id) is None
    assert store.get(old2.grant_id) is not None
    assert store.get(new.grant_id) is not None
    # An empty full set withdraws everything unused.
    store.apply(grants_action(replace_all=True))
    assert store.count(usable_only=False) == 0


def test_a_claimed_grant_is_never_made_usable_again_by_a_push(store: GrantStore) -> None:
    grant = make_grant(4)
    store.apply(grants_action(grant))
    assert store.claim(grant.grant_id, utcnow())
    assert not store.claim(grant.grant_id, utcnow()), "a grant opens at most once"
    # The cloud has not heard of the pickup yet and pushes the grant again.
    applied = store.apply(grants_action(grant, replace_all=True))
    assert applied.kept_used == 1
    stored = store.get(grant.grant_id)
    assert stored is not None
    assert not stored.usable
    assert store.for_login(ALICE.login) == []


def test_a_pickup_in_progress_survives_a_full_push_that_omits_it(store: GrantStore) -> None:
    grant = make_grant(4)
    store.apply(grants_action(grant))
    store.claim(grant.grant_id, utcnow())
    store.mark_opened(grant.grant_id, utcnow())
    store.apply(grants_action(replace_all=True))
    assert [g.grant_id for g in store.unfinished()] == [grant.grant_id]
    # Once completed, the next full push without it drops the tombstone.
    assert store.mark_completed(grant.grant_id, utcnow())
    assert not store.mark_completed(grant.grant_id, utcnow()), "completion is recorded once"
    store.apply(grants_action(replace_all=True))
    assert store.get(grant.grant_id) is None


def test_revoke_deletes_unused_grants_only(store: GrantStore) -> None:
    unused, used = make_grant(1), make_grant(2)
    store.apply(grants_action(unused, used))
    store.claim(used.grant_id, utcnow())
    assert store.revoke([unused.grant_id, used.grant_id]) == 1
    assert store.get(unused.grant_id) is None
    assert store.get(used.grant_id) is not None


def test_grants_and_claims_survive_a_restart(data_dir: Path) -> None:
    grant, other = make_grant(5), make_grant(6)
    first = open_store(data_dir)
    GrantStore(first).apply(grants_action(grant, other))
    GrantStore(first).claim(grant.grant_id, utcnow())
    first.close()
    second = open_store(data_dir)
    try:
        store = GrantStore(second)
        assert [g.grant_id for g in store.for_login(ALICE.login)] == [other.grant_id]
        assert not store.claim(grant.grant_id, utcnow())
    finally:
        second.close()


def test_prune_drops_long_expired_and_long_finished_grants_only(store: GrantStore) -> None:
    now = utcnow()
    expired = make_grant(1, valid_from=now - timedelta(days=30), valid_until=now - timedelta(days=20))
    current = make_grant(2)
    opened = make_grant(3, valid_from=now - timedelta(days=30), valid_until=now - timedelta(days=20))
    store.apply(grants_action(expired, current, opened))
    store.claim(opened.grant_id, now)
    store.mark_opened(opened.grant_id, now)
    assert store.prune(now, timedelta(days=7)) == 1
    assert store.get(expired.grant_id) is None
    assert store.get(current.grant_id) is not None
    assert store.get(opened.grant_id) is not None, "a pickup in progress is kept"
