"""Command verification and execution on the real drivers with a simulated box.

The safety claim under test: forged, tampered, expired, not-yet-valid, replayed, wrong-box,
unknown-compartment and malformed commands never energise a coil (checked on the mock pins'
whole state history), and each gets the right reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from docbox_edge.compartments import Compartments
from docbox_edge.executor import Executor
from docbox_edge.ledger import Ledger
from docbox_edge.outbox import Outbox
from docbox_edge.store import open_store
from docbox_protocol.codec import decode, encode
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    CommandOutcome,
    CommandReply,
    CommandResult,
    DoorClosed,
    DoorOpened,
    Event,
    LockPulsed,
    RejectReason,
    SignedCommand,
    SnapshotAction,
    UnlockAction,
    utcnow,
)
from docbox_protocol.signing import CommandVerifier, b64d, b64e
from tests.edge.conftest import BOX_ID, PULSE_MS, Keys, Rig

CONFIRM_S = 0.5


class Harness:
    """An executor with its store and state machine, as the agent wires them."""

    def __init__(self, rig: Rig, keys: Keys, data_dir: Path) -> None:
        self.rig = rig
        self.keys = keys
        self.data_dir = data_dir
        self.conns: list[sqlite3.Connection] = []
        self.snapshots: list[uuid.UUID] = []
        conn = self._open()
        self.outbox = Outbox(conn, BOX_ID)
        self.compartments = Compartments(rig.config.compartments, self.outbox.append)
        self.executor = self.new_executor()

    def _open(self) -> sqlite3.Connection:
        conn = open_store(self.data_dir)
        self.conns.append(conn)
        return conn

    def new_executor(self) -> Executor:
        """A fresh executor whose ledger is a new connection to the same store: a restart."""

        async def on_snapshot(request_id: uuid.UUID) -> None:
            self.snapshots.append(request_id)

        return Executor(
            box_id=BOX_ID,
            hardware=self.rig.hardware,
            verifier=CommandVerifier([self.keys.trusted.public_key()]),
            ledger=Ledger(self._open()),
            outbox=self.outbox,
            compartments=self.compartments,
            pulse_ms={c.number: self.rig.config.pulse_ms(c.number) for c in self.rig.config.compartments},
            on_snapshot=on_snapshot,
            unlock_confirm_s=CONFIRM_S,
        )

    async def send(self, command: SignedCommand | bytes) -> CommandReply:
        payload = command if isinstance(command, bytes) else encode(command)
        return await self.executor.handle(payload)

    def events(self) -> list[Event]:
        return [decode(Event, payload) for _, payload in self.outbox.pending(10_000)]

    def close(self) -> None:
        for conn in self.conns:
            conn.close()


@pytest.fixture
async def harness(rig: Rig, keys: Keys, data_dir: Path) -> AsyncIterator[Harness]:
    await rig.hardware.start()
    h = Harness(rig, keys, data_dir)
    h.compartments.load(rig.hardware.door_is_open)
    doors = asyncio.create_task(h.compartments.run(rig.hardware.signals()))
    try:
        yield h
    finally:
        doors.cancel()
        h.compartments.close()
        h.close()


def rejected(reply: CommandReply, reason: RejectReason) -> bool:
    return reply.outcome is CommandOutcome.REJECTED and reply.reason is reason


def tamper(signed: SignedCommand, **changes: object) -> SignedCommand:
    """Change fields of the signed payload but keep the original signature."""
    raw = json.loads(b64d(signed.payload))
    raw.update(changes)
    return signed.model_copy(update={"payload": b64e(json.dumps(raw).encode())})


# --------------------------------------------------------------------------- valid commands


async def test_valid_unlock_pulses_once_and_replies_opened_when_the_door_opens(
    harness: Harness, rig: Rig, keys: Keys
) -> None:
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=None, compartments=[3])
    signed = keys.unlock(3)

    reply = await harness.send(signed)

    assert reply.outcome is CommandOutcome.OPENED, reply
    assert reply.box_id == BOX_ID
    await harness.executor.wait_idle()  # the reply may come while the coil is still on
    assert rig.sim.pulse_count(3) == 1
    assert rig.pulses() == 1
    assert not rig.hardware.coil_is_on(3)
    # Never longer than configured (plus scheduling slack, never more than the cap).
    (duration,) = rig.on_durations_s(3)
    assert PULSE_MS / 1000 * 0.9 <= duration <= PULSE_MS / 1000 + 0.05
    kinds = [e.data.kind for e in harness.events()]
    assert kinds == ["lock_pulsed", "door_opened", "command_result"]
    pulsed, opened, result = (e.data for e in harness.events())
    assert isinstance(pulsed, LockPulsed)
    assert pulsed.pulse_ms == PULSE_MS
    assert isinstance(opened, DoorOpened)
    assert opened.command_id == reply.command_id
    assert not opened.forced
    assert isinstance(result, CommandResult)
    assert result.outcome is CommandOutcome.OPENED
    assert harness.compartments.alarms(3) == []


async def test_door_opened_and_closed_events_follow_the_unlock(
    harness: Harness, rig: Rig, keys: Keys
) -> None:
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=0.05, compartments=[2])
    reply = await harness.send(keys.unlock(2))
    assert reply.outcome is CommandOutcome.OPENED
    async with asyncio.timeout(5):
        while not any(isinstance(e.data, DoorClosed) for e in harness.events()):
            await harness.outbox.appended.wait()
            harness.outbox.appended.clear()
    closed = harness.events()[-1].data
    assert isinstance(closed, DoorClosed)
    assert closed.compartment == 2
    assert closed.open_ms is not None
    assert closed.open_ms >= 30
    assert harness.compartments.snapshot()[1].locked


async def test_jammed_latch_is_pulsed_twice_then_reported(harness: Harness, rig: Rig, keys: Keys) -> None:
    rig.sim.jam(5)
    reply = await harness.send(keys.unlock(5))
    assert reply.outcome is CommandOutcome.JAMMED
    assert rig.sim.pulse_count(5) == 2
    kinds = [e.data.kind for e in harness.events()]
    assert kinds == ["lock_pulsed", "lock_pulsed", "command_result", "alarm"]
    alarm = harness.events()[-1].data
    assert isinstance(alarm, AlarmRaised)
    assert alarm.alarm is AlarmKind.JAMMED
    assert alarm.active
    assert harness.compartments.snapshot()[4].locked


async def test_retry_pulse_opens_a_sticky_latch(harness: Harness, rig: Rig, keys: Keys) -> None:
    rig.sim.jam(4)
    task = asyncio.create_task(harness.send(keys.unlock(4)))
    async with asyncio.timeout(5):
        while rig.sim.pulse_count(4) < 1:
            await harness.outbox.appended.wait()
            harness.outbox.appended.clear()
    rig.sim.unjam(4)
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=None, compartments=[4])
    reply = await task
    assert reply.outcome is CommandOutcome.OPENED
    assert rig.sim.pulse_count(4) == 2


async def test_snapshot_command_is_answered_done(harness: Harness, keys: Keys, rig: Rig) -> None:
    command = keys.command(SnapshotAction())
    reply = await harness.send(keys.signer.sign(command))
    assert reply.outcome is CommandOutcome.DONE
    assert harness.snapshots == [command.id]
    assert rig.pulses() == 0


async def test_commands_for_different_compartments_run_concurrently(
    harness: Harness, rig: Rig, keys: Keys
) -> None:
    rig.sim.auto_person(open_after_s=0.2, shut_after_s=None, compartments=[1, 2, 3])
    loop = asyncio.get_running_loop()
    started = loop.time()
    replies = await asyncio.gather(*(harness.send(keys.unlock(n)) for n in (1, 2, 3)))
    assert [r.outcome for r in replies] == [CommandOutcome.OPENED] * 3
    # Serially this would take at least 3 x 0.2 s.
    assert loop.time() - started < 0.55


async def test_second_unlock_of_the_same_compartment_waits_and_finds_the_door_open(
    harness: Harness, rig: Rig, keys: Keys
) -> None:
    rig.sim.auto_person(open_after_s=0.05, shut_after_s=None, compartments=[6])
    first, second = await asyncio.gather(harness.send(keys.unlock(6)), harness.send(keys.unlock(6)))
    assert first.outcome is CommandOutcome.OPENED
    assert rejected(second, RejectReason.DOOR_ALREADY_OPEN)
    assert rig.sim.pulse_count(6) == 1


# --------------------------------------------------------------------------- refusals


def _assert_refused(harness: Harness, reply: CommandReply, reason: RejectReason) -> None:
    assert rejected(reply, reason), reply
    assert harness.rig.pulses() == 0
    assert not harness.rig.any_coil_energised()
    assert not any(e.data.kind == "lock_pulsed" for e in harness.events())


async def test_forged_signature_with_the_trusted_key_id(harness: Harness, keys: Keys) -> None:
    forged = keys.forger.sign(keys.forger.command(BOX_ID, UnlockAction(compartment=1)))
    forged = forged.model_copy(update={"key_id": keys.signer.key_id})
    _assert_refused(harness, await harness.send(forged), RejectReason.BAD_SIGNATURE)


async def test_command_signed_by_an_unknown_key(harness: Harness, keys: Keys) -> None:
    forged = keys.forger.sign(keys.forger.command(BOX_ID, UnlockAction(compartment=1)))
    reply = await harness.send(forged)
    _assert_refused(harness, reply, RejectReason.UNKNOWN_KEY)
    # The refusal names the (claimed) command id and is kept as an audit event.
    (event,) = harness.events()
    assert isinstance(event.data, CommandResult)
    assert event.data.command_id == reply.command_id
    assert event.data.reason is RejectReason.UNKNOWN_KEY


async def test_tampered_payload(harness: Harness, keys: Keys) -> None:
    signed = tamper(keys.unlock(1), body={"action": "unlock", "compartment": 2})
    _assert_refused(harness, await harness.send(signed), RejectReason.BAD_SIGNATURE)


async def test_expired_command(harness: Harness, keys: Keys) -> None:
    signed = keys.unlock(1, now=utcnow() - timedelta(seconds=60))
    reply = await harness.send(signed)
    _assert_refused(harness, reply, RejectReason.EXPIRED)
    (event,) = harness.events()
    assert isinstance(event.data, CommandResult)
    assert event.data.reason is RejectReason.EXPIRED


async def test_not_yet_valid_command(harness: Harness, keys: Keys) -> None:
    signed = keys.unlock(1, now=utcnow() + timedelta(seconds=60))
    _assert_refused(harness, await harness.send(signed), RejectReason.NOT_YET_VALID)


async def test_lifetime_too_long(harness: Harness, keys: Keys) -> None:
    command = keys.command(UnlockAction(compartment=1), lifetime_s=600)
    _assert_refused(harness, await harness.send(keys.signer.sign(command)), RejectReason.LIFETIME_TOO_LONG)


async def test_wrong_box(harness: Harness, keys: Keys) -> None:
    signed = keys.unlock(1, box_id="other-box")
    _assert_refused(harness, await harness.send(signed), RejectReason.WRONG_BOX)


async def test_unknown_compartment(harness: Harness, keys: Keys) -> None:
    _assert_refused(harness, await harness.send(keys.unlock(999)), RejectReason.UNKNOWN_COMPARTMENT)


async def test_door_already_open(harness: Harness, rig: Rig, keys: Keys) -> None:
    rig.sim.force_open(7)
    async with asyncio.timeout(2):
        while not rig.hardware.door_is_open(7):
            await harness.outbox.appended.wait()
            harness.outbox.appended.clear()
    _assert_refused(harness, await harness.send(keys.unlock(7)), RejectReason.DOOR_ALREADY_OPEN)


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        b'{"v": 1}',
        b'{"v": 1, "key_id": "0123456789abcdef", "payload": "!!", "signature": "x"}',
        bytes(range(256)),
    ],
)
async def test_malformed_messages_are_refused_and_logged(
    harness: Harness, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="docbox_edge.executor"):
        reply = await harness.send(payload)
    _assert_refused(harness, reply, RejectReason.MALFORMED)
    assert reply.command_id is None
    assert any("malformed" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


async def test_other_schema_version_is_refused_as_unsupported(harness: Harness, keys: Keys) -> None:
    raw = json.loads(encode(keys.unlock(1)))
    raw["v"] = 2
    reply = await harness.send(json.dumps(raw).encode())
    _assert_refused(harness, reply, RejectReason.UNSUPPORTED_VERSION)


async def test_replayed_command_is_refused(harness: Harness, rig: Rig, keys: Keys) -> None:
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=0.02, compartments=[1])
    signed = keys.unlock(1)
    assert (await harness.send(signed)).outcome is CommandOutcome.OPENED
    async with asyncio.timeout(5):
        while rig.hardware.door_is_open(1) or harness.compartments.door(1) != "closed":
            await harness.outbox.appended.wait()
            harness.outbox.appended.clear()

    reply = await harness.send(signed)
    assert rejected(reply, RejectReason.REPLAYED)
    assert rig.sim.pulse_count(1) == 1


async def test_replay_is_refused_after_a_restart(harness: Harness, rig: Rig, keys: Keys) -> None:
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=0.02, compartments=[1])
    signed = keys.unlock(1)
    assert (await harness.send(signed)).outcome is CommandOutcome.OPENED
    async with asyncio.timeout(5):
        while harness.compartments.door(1) != "closed":
            await harness.outbox.appended.wait()
            harness.outbox.appended.clear()

    harness.executor = harness.new_executor()  # same store file, new connection and ledger
    reply = await harness.send(signed)
    assert rejected(reply, RejectReason.REPLAYED)
    assert rig.sim.pulse_count(1) == 1


async def test_a_duplicate_delivered_during_execution_is_refused_at_once(
    harness: Harness, rig: Rig, keys: Keys
) -> None:
    rig.sim.auto_person(open_after_s=0.1, shut_after_s=None, compartments=[8])
    signed = keys.unlock(8)
    harness.outbox.appended.clear()
    first = asyncio.create_task(harness.send(signed))
    async with asyncio.timeout(2):
        await harness.outbox.appended.wait()  # lock_pulsed: the first one is under way
    second = await harness.send(signed)
    assert rejected(second, RejectReason.REPLAYED)
    assert not first.done()
    assert (await first).outcome is CommandOutcome.OPENED
    assert rig.sim.pulse_count(8) == 1


async def test_forgery_flood_is_not_written_to_the_outbox_beyond_the_budget(
    harness: Harness, keys: Keys
) -> None:
    for _ in range(100):
        forged = keys.forger.sign(keys.forger.command(BOX_ID, UnlockAction(compartment=1)))
        assert rejected(await harness.send(forged), RejectReason.UNKNOWN_KEY)
    assert harness.outbox.depth() == 60
    assert harness.rig.pulses() == 0


@pytest.mark.allow_error_logs(r"docbox_edge\.executor: compartment 2: pulse failed")
async def test_hardware_failure_is_reported_and_the_latch_relocked(
    harness: Harness, rig: Rig, keys: Keys
) -> None:
    # Another pulse of the same coil is running (a test bypassing the executor), so the
    # driver refuses the second one with CoilBusy, a HardwareError.
    busy = asyncio.create_task(rig.hardware.pulse(2))
    await rig.wait_coil_on(2)
    reply = await harness.send(keys.unlock(2))
    await busy
    assert rejected(reply, RejectReason.HARDWARE_ERROR)
    assert harness.compartments.snapshot()[1].locked
    (result,) = [e.data for e in harness.events() if isinstance(e.data, CommandResult)]
    assert result.reason is RejectReason.HARDWARE_ERROR
    assert result.compartment == 2


async def test_cancelled_unlock_switches_the_coil_off_and_relocks(
    harness: Harness, rig: Rig, keys: Keys
) -> None:
    rig.sim.jam(3)  # the door will not open: the executor keeps waiting
    task = asyncio.create_task(harness.send(keys.unlock(3)))
    await rig.wait_coil_on(3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await harness.executor.wait_idle()
    assert not rig.hardware.coil_is_on(3)
    assert harness.compartments.snapshot()[2].locked
    (duration,) = rig.on_durations_s(3)
    assert duration < PULSE_MS / 1000
