"""Sign-in at the kiosk: verification against stored grants, lockouts, handover."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from docbox_edge.lockout import LockoutLimits
from docbox_protocol.messages import (
    CommandOutcome,
    PickupCompleted,
    SignInFailed,
    SignInFailReason,
    utcnow,
)
from tests.edge.conftest import Keys, Rig
from tests.edge.grant_helpers import ALICE, BOB, grants_action, make_grant
from tests.edge.kiosk_harness import DeskHarness, desk_harness

LIMITS = LockoutLimits(
    login_max_failures=3,
    login_window_s=600,
    login_lockout_s=900,
    box_max_failures=6,
    box_window_s=600,
    box_pause_s=300,
)


@pytest.fixture
async def h(rig: Rig, keys: Keys, data_dir: Path) -> AsyncIterator[DeskHarness]:
    async with desk_harness(rig, keys, data_dir, LIMITS) as harness:
        yield harness


def failures(h: DeskHarness) -> list[SignInFailed]:
    return [d for d in h.data(SignInFailed) if isinstance(d, SignInFailed)]


async def test_phone_pin_and_birthday_sign_in_to_every_waiting_document(h: DeskHarness) -> None:
    g1, g2, other = make_grant(1), make_grant(2), make_grant(3, BOB)
    h.grants.apply(grants_action(g1, g2, other))
    result = await h.desk.sign_in("0171 2345678", ALICE.pin, ALICE.dob)
    assert result.ok
    assert [g.grant_id for g in result.grants] == [g1.grant_id, g2.grant_id]
    bob = await h.desk.sign_in("ab-2026/123", BOB.pin, BOB.dob)
    assert [g.grant_id for g in bob.grants] == [other.grant_id]
    assert failures(h) == []


async def test_wrong_pin_or_birthday_is_refused_and_reported_without_personal_data(h: DeskHarness) -> None:
    grant = make_grant(1)
    h.grants.apply(grants_action(grant))
    wrong_pin = await h.desk.sign_in(ALICE.login, "1234", ALICE.dob)
    wrong_dob = await h.desk.sign_in(ALICE.login, ALICE.pin, date(1990, 12, 30))
    assert wrong_pin.reason is SignInFailReason.WRONG_SECRET
    assert wrong_dob.reason is SignInFailReason.WRONG_SECRET
    events = failures(h)
    assert [(e.grant_id, e.reason) for e in events] == [(grant.grant_id, SignInFailReason.WRONG_SECRET)] * 2
    payloads = b"".join(p for _, p in h.outbox.pending(100))
    for secret in (b"1234", b"2345678", b"1990-12-3"):
        assert secret not in payloads


async def test_unknown_login_is_refused(h: DeskHarness) -> None:
    h.grants.apply(grants_action(make_grant(1)))
    result = await h.desk.sign_in("+49 30 1234567", ALICE.pin, ALICE.dob)
    assert result.reason is SignInFailReason.UNKNOWN_LOGIN
    assert [(e.grant_id, e.reason) for e in failures(h)] == [(None, SignInFailReason.UNKNOWN_LOGIN)]


async def test_a_grant_outside_its_validity_is_refused_even_with_the_right_secret(h: DeskHarness) -> None:
    now = utcnow()
    later = make_grant(1, valid_from=now + timedelta(hours=1))
    h.grants.apply(grants_action(later))
    early = await h.desk.sign_in(ALICE.login, ALICE.pin, ALICE.dob)
    assert early.reason is SignInFailReason.NOT_VALID_NOW
    h.clock.offset_s = 8 * 86400
    expired = await h.desk.sign_in(ALICE.login, ALICE.pin, ALICE.dob)
    assert expired.reason is SignInFailReason.NOT_VALID_NOW


async def test_repeated_wrong_secrets_lock_the_login_and_the_lock_survives_a_restart(h: DeskHarness) -> None:
    h.grants.apply(grants_action(make_grant(1), make_grant(2, BOB)))
    for _ in range(LIMITS.login_max_failures):
        assert (await h.desk.sign_in(ALICE.login, "0000", ALICE.dob)).reason is SignInFailReason.WRONG_SECRET
    locked = await h.desk.sign_in(ALICE.login, ALICE.pin, ALICE.dob)
    assert locked.reason is SignInFailReason.LOCKED_OUT
    assert not locked.box_paused
    assert locked.retry_after_s is not None
    assert 890 <= locked.retry_after_s <= 900
    # Another applicant is not affected.
    assert (await h.desk.sign_in(BOB.login, BOB.pin, BOB.dob)).ok
    # A restarted agent (fresh objects on the same store) still refuses.
    restarted = h.new_desk()
    assert (await restarted.sign_in(ALICE.login, ALICE.pin, ALICE.dob)).reason is SignInFailReason.LOCKED_OUT
    # After the lockout the right secret works again.
    h.clock.offset_s = LIMITS.login_lockout_s + 1
    assert (await restarted.sign_in(ALICE.login, ALICE.pin, ALICE.dob)).ok


async def test_a_successful_sign_in_resets_the_login_count(h: DeskHarness) -> None:
    h.grants.apply(grants_action(make_grant(1)))
    for _ in range(LIMITS.login_max_failures - 1):
        await h.desk.sign_in(ALICE.login, "0000", ALICE.dob)
    assert (await h.desk.sign_in(ALICE.login, ALICE.pin, ALICE.dob)).ok
    for _ in range(LIMITS.login_max_failures - 1):
        await h.desk.sign_in(ALICE.login, "0000", ALICE.dob)
    assert (await h.desk.sign_in(ALICE.login, ALICE.pin, ALICE.dob)).ok


async def test_many_failures_pause_the_whole_kiosk(h: DeskHarness) -> None:
    h.grants.apply(grants_action(make_grant(1)))
    for i in range(LIMITS.box_max_failures):
        result = await h.desk.sign_in(f"+49 30 100000{i}", "1111", ALICE.dob)
        assert result.reason is SignInFailReason.UNKNOWN_LOGIN
    paused = await h.desk.sign_in(ALICE.login, ALICE.pin, ALICE.dob)
    assert paused.reason is SignInFailReason.LOCKED_OUT
    assert paused.box_paused
    assert (await h.new_desk().sign_in(ALICE.login, ALICE.pin, ALICE.dob)).box_paused
    h.clock.offset_s = LIMITS.box_pause_s + 1
    assert (await h.desk.sign_in(ALICE.login, ALICE.pin, ALICE.dob)).ok


async def test_shutting_the_door_completes_the_handover(h: DeskHarness, rig: Rig) -> None:
    grant = make_grant(4)
    h.grants.apply(grants_action(grant))
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=0.05, compartments=[4])
    signed_in = await h.desk.sign_in(ALICE.login, ALICE.pin, ALICE.dob)
    opening = await h.desk.open(signed_in.grants[0].grant_id)
    assert opening.outcome is CommandOutcome.OPENED
    assert await h.desk.wait_handover(grant.grant_id, 5.0)
    (completed,) = h.data(PickupCompleted)
    assert isinstance(completed, PickupCompleted)
    assert (completed.grant_id, completed.compartment, completed.offline) == (grant.grant_id, 4, True)
    stored = h.grants.get(grant.grant_id)
    assert stored is not None
    assert stored.completed_at is not None
    # The grant is used up: no second sign-in.
    assert (await h.desk.sign_in(ALICE.login, ALICE.pin, ALICE.dob)).reason is SignInFailReason.UNKNOWN_LOGIN


async def test_online_pickups_are_reported_as_online(h: DeskHarness, rig: Rig) -> None:
    h.online = True
    grant = make_grant(2)
    h.grants.apply(grants_action(grant))
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=0.02, compartments=[2])
    await h.desk.open(grant.grant_id)
    assert await h.desk.wait_handover(grant.grant_id, 5.0)
    (completed,) = h.data(PickupCompleted)
    assert isinstance(completed, PickupCompleted)
    assert not completed.offline


async def test_a_handover_interrupted_by_a_restart_is_completed_at_start(h: DeskHarness, rig: Rig) -> None:
    grant = make_grant(3)
    h.grants.apply(grants_action(grant))
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=None, compartments=[3])
    await h.desk.open(grant.grant_id)
    await h.desk.close()  # the agent stops while the door stands open
    assert h.data(PickupCompleted) == []
    rig.sim.person_shuts(3)
    await h.wait_for(lambda: h.compartments.door(3).value == "closed")
    assert h.new_desk().recover() == 1
    (completed,) = h.data(PickupCompleted)
    assert isinstance(completed, PickupCompleted)
    assert completed.grant_id == grant.grant_id


async def test_wait_handover_of_an_unknown_grant_is_false(h: DeskHarness) -> None:
    assert not await h.desk.wait_handover(uuid.uuid4(), 0.01)
