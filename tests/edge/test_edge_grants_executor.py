"""Grants arrive as signed commands; grant-based opening goes through the executor only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from docbox_edge.grants import GrantRefusal
from docbox_protocol.codec import encode
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    CommandOutcome,
    CommandResult,
    DoorOpened,
    LockPulsed,
    RejectReason,
    RevokeGrantsAction,
    UnlockAction,
)
from tests.edge.conftest import Keys, Rig
from tests.edge.grant_helpers import ALICE, grants_action, make_grant
from tests.edge.kiosk_harness import DeskHarness, desk_harness


@pytest.fixture
async def h(rig: Rig, keys: Keys, data_dir: Path) -> AsyncIterator[DeskHarness]:
    async with desk_harness(rig, keys, data_dir) as harness:
        yield harness


async def test_a_signed_grants_command_installs_grants_and_is_answered_done(h: DeskHarness) -> None:
    g1, g2 = make_grant(1), make_grant(2)
    reply = await h.send(grants_action(g1, g2))
    assert reply.outcome is CommandOutcome.DONE, reply
    assert reply.detail is not None
    assert "2 installed" in reply.detail
    assert {g.grant_id for g in h.grants.for_login(ALICE.login)} == {g1.grant_id, g2.grant_id}
    (result,) = h.data(CommandResult)
    assert isinstance(result, CommandResult)
    assert result.outcome is CommandOutcome.DONE


async def test_replace_all_and_revoke_commands(h: DeskHarness) -> None:
    g1, g2, g3 = make_grant(1), make_grant(2), make_grant(3)
    await h.send(grants_action(g1, g2))
    reply = await h.send(grants_action(g3, replace_all=True))
    assert reply.outcome is CommandOutcome.DONE
    assert [g.grant_id for g in h.grants.for_login(ALICE.login)] == [g3.grant_id]
    reply = await h.send(RevokeGrantsAction(grant_ids=[g3.grant_id]))
    assert reply.outcome is CommandOutcome.DONE
    assert reply.detail == "1 revoked"
    assert h.grants.count() == 0


async def test_a_forged_grants_command_changes_nothing(h: DeskHarness, keys: Keys) -> None:
    forged = keys.forger.sign(keys.command(grants_action(make_grant(1))))
    reply = await h.executor.handle(encode(forged))
    assert reply.outcome is CommandOutcome.REJECTED
    assert reply.reason in (RejectReason.BAD_SIGNATURE, RejectReason.UNKNOWN_KEY)
    assert h.grants.count(usable_only=False) == 0


async def test_open_for_grant_pulses_once_and_attributes_the_events_to_the_grant(
    h: DeskHarness, rig: Rig
) -> None:
    grant = make_grant(3)
    await h.send(grants_action(grant))
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=None, compartments=[3])

    result = await h.executor.open_for_grant(grant.grant_id)

    assert result.outcome is CommandOutcome.OPENED
    assert result.compartment == 3
    await h.executor.wait_idle()
    assert rig.sim.pulse_count(3) == 1
    assert rig.pulses() == 1
    pulsed = h.data(LockPulsed)
    assert len(pulsed) == 1
    assert isinstance(pulsed[0], LockPulsed)
    assert pulsed[0].grant_id == grant.grant_id
    assert pulsed[0].command_id is None
    (opened,) = h.data(DoorOpened)
    assert isinstance(opened, DoorOpened)
    assert opened.grant_id == grant.grant_id
    assert not opened.forced
    stored = h.grants.get(grant.grant_id)
    assert stored is not None
    assert stored.claimed_at is not None
    assert stored.opened_at is not None


async def test_a_grant_opens_at_most_once(h: DeskHarness, rig: Rig) -> None:
    grant = make_grant(2)
    await h.send(grants_action(grant))
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=0.02, compartments=[2])
    first = await h.executor.open_for_grant(grant.grant_id)
    assert first.outcome is CommandOutcome.OPENED
    await h.executor.wait_idle()
    second = await h.executor.open_for_grant(grant.grant_id)
    assert second.outcome is CommandOutcome.REJECTED
    assert second.refusal is GrantRefusal.ALREADY_USED
    assert rig.sim.pulse_count(2) == 1


async def test_expired_and_unknown_grants_never_energise_a_coil(h: DeskHarness, rig: Rig) -> None:
    grant = make_grant(4)
    await h.send(grants_action(grant))
    h.clock.offset_s = 8 * 86400  # a week and a day later: past valid_until
    expired = await h.executor.open_for_grant(grant.grant_id)
    unknown = await h.executor.open_for_grant(uuid.uuid4())
    assert expired.refusal is GrantRefusal.NOT_VALID_NOW
    assert unknown.refusal is GrantRefusal.UNKNOWN_GRANT
    assert not rig.any_coil_energised()
    stored = h.grants.get(grant.grant_id)
    assert stored is not None
    assert stored.usable, "a refused attempt does not use the grant up"


async def test_a_grant_whose_door_stands_open_is_refused(h: DeskHarness, rig: Rig) -> None:
    grant = make_grant(5)
    await h.send(grants_action(grant))
    rig.sim.force_open(5)
    await h.wait_for(lambda: bool(h.data(DoorOpened)))
    result = await h.executor.open_for_grant(grant.grant_id)
    assert result.refusal is GrantRefusal.DOOR_ALREADY_OPEN
    assert not rig.coil_was_energised(5)


async def test_a_jammed_compartment_is_retried_once_then_marked_defective(h: DeskHarness, rig: Rig) -> None:
    first, second = make_grant(6), make_grant(6)
    await h.send(grants_action(first, second))
    rig.sim.jam(6)

    result = await h.executor.open_for_grant(first.grant_id)

    assert result.outcome is CommandOutcome.JAMMED
    assert rig.sim.pulse_count(6) == 2
    alarms = [a for a in h.data(AlarmRaised) if isinstance(a, AlarmRaised) and a.alarm is AlarmKind.JAMMED]
    assert len(alarms) == 1
    assert alarms[0].active
    await h.executor.wait_idle()
    again = await h.executor.open_for_grant(second.grant_id)
    assert again.refusal is GrantRefusal.DEFECTIVE
    assert rig.sim.pulse_count(6) == 2, "a defective compartment is not pulsed again for a pickup"


async def test_an_unlock_answering_a_kiosk_request_is_reported_to_the_requester(
    h: DeskHarness, rig: Rig
) -> None:
    request_id = uuid.uuid4()
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=None, compartments=[7])
    reply = await h.send(UnlockAction(compartment=7, request_id=request_id))
    assert reply.outcome is CommandOutcome.OPENED
    assert [(r, n, rep.outcome) for r, n, rep in h.request_unlocks] == [
        (request_id, 7, CommandOutcome.OPENED)
    ]
    # A plain unlock (no request) is nobody's business at the kiosk.
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=None, compartments=[8])
    await h.send(UnlockAction(compartment=8))
    assert len(h.request_unlocks) == 1
