"""Verification and execution of commands: the only code path that energises a coil.

A command is executed only if, in this order: it parses, its signature verifies against a
trusted key, it names this box and is valid now, its id was never executed before (the
ledger, committed before the pulse, also across restarts), its compartment exists and that
door is shut. Anything else is rejected with a reason, replied and recorded as a
``command_result`` event; nothing is energised (principle 4).

An unlock is confirmed by the door sensor, not by the pulse: the executor waits up to
``unlock_confirm_s`` (from the start of the pulse) for the door to open, pulses once more if
it did not, and then reports the compartment ``jammed``. The reply ``opened`` goes out as
soon as the door is seen open, possibly while the coil is still energised; the compartment
accepts its next command only once that pulse has ended.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from docbox_edge.compartments import Compartments
from docbox_edge.errors import EdgeError, StoreError
from docbox_edge.grants import GrantRefusal, GrantStore
from docbox_edge.hardware.errors import HardwareError, UnknownCompartment
from docbox_edge.ledger import Ledger
from docbox_edge.outbox import Outbox
from docbox_protocol.codec import decode
from docbox_protocol.errors import MessageError, SignatureError
from docbox_protocol.messages import (
    SCHEMA_VERSION,
    AlarmKind,
    Command,
    CommandOutcome,
    CommandReply,
    CommandResult,
    GrantsAction,
    LockPulsed,
    RejectReason,
    RevokeGrantsAction,
    SignedCommand,
    SnapshotAction,
    UnlockAction,
    utcnow,
)
from docbox_protocol.signing import CommandVerifier, b64d, check_window

log = logging.getLogger(__name__)

#: Pulses per unlock: the first, and one retry if the door did not open.
UNLOCK_ATTEMPTS = 2


class LockHardware(Protocol):
    """The part of the box hardware the executor drives."""

    @property
    def compartments(self) -> Sequence[int]:
        """Compartment numbers the hardware knows."""

    async def pulse(self, compartment: int) -> None:
        """Energise the lock coil of ``compartment`` for its configured pulse."""

    def door_is_open(self, compartment: int) -> bool:
        """Debounced door position."""


@dataclass(frozen=True, slots=True)
class GrantOpening:
    """How opening a compartment for a pickup grant ended.

    Attributes:
        outcome: ``opened`` (the door was seen open), ``jammed`` (two pulses, no opening:
            the compartment is marked defective) or ``rejected`` (nothing was energised).
        compartment: The grant's compartment, if the grant was known.
        refusal: Why it was rejected.
    """

    outcome: CommandOutcome
    compartment: int | None = None
    refusal: GrantRefusal | None = None


#: Told about every verified unlock that answers a kiosk request: (request id, compartment, reply).
RequestUnlockObserver = Callable[[uuid.UUID, int, CommandReply], None]


class _Rejected(EdgeError):
    """Internal: a command is refused for ``reason``."""

    def __init__(
        self,
        reason: RejectReason,
        detail: str,
        command_id: uuid.UUID | None = None,
        compartment: int | None = None,
    ) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail
        self.command_id = command_id
        self.compartment = compartment


class _AuditBudget:
    """Token bucket limiting how many unverified rejections are written to the outbox.

    A flood of forged commands must not fill the disk with events; beyond the budget they
    are only logged and replied to.
    """

    def __init__(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._tokens = float(per_minute)
        self._rate = per_minute / 60.0
        self._last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Executor:
    """Verifies and executes the signed commands of one box."""

    def __init__(
        self,
        *,
        box_id: str,
        hardware: LockHardware,
        verifier: CommandVerifier,
        ledger: Ledger,
        outbox: Outbox,
        compartments: Compartments,
        pulse_ms: Mapping[int, int],
        on_snapshot: Callable[[uuid.UUID], Awaitable[None]] | None = None,
        unlock_confirm_s: float = 8.0,
        clock_skew_s: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        unverified_audit_per_minute: int = 60,
        grants: GrantStore | None = None,
        on_request_unlock: RequestUnlockObserver | None = None,
    ) -> None:
        """Wire the executor.

        Args:
            box_id: this box; commands naming another box are rejected.
            hardware: drives the coils (only ever called from here).
            verifier: holds the trusted public keys.
            ledger: executed command ids (at most once, across restarts).
            outbox: where ``lock_pulsed`` and ``command_result`` events go.
            compartments: the door state machine, told about each release.
            pulse_ms: configured pulse length per compartment (reported in ``lock_pulsed``).
            on_snapshot: publishes a state snapshot answering a snapshot command.
            unlock_confirm_s: how long the door has to open, counted from the start of a pulse.
            clock_skew_s: tolerated difference between box and cloud clocks.
            clock: the wall clock (tests move it).
            unverified_audit_per_minute: budget of ``command_result`` events for commands
                whose id could not be verified (forgeries); beyond it they are only logged.
            grants: the pickup grant store that ``grants``/``revoke_grants`` commands change
                and :meth:`open_for_grant` checks; without it those commands are rejected.
            on_request_unlock: told the outcome of each unlock carrying a ``request_id``
                (the kiosk waits for it while staff load a document).
        """
        self._box_id = box_id
        self._hw = hardware
        self._verifier = verifier
        self._ledger = ledger
        self._outbox = outbox
        self._compartments = compartments
        self._pulse_ms = dict(pulse_ms)
        self._on_snapshot = on_snapshot
        self._confirm_s = unlock_confirm_s
        self._skew_s = clock_skew_s
        self._clock = clock
        self._locks: dict[int, asyncio.Lock] = {}
        self._pulses: set[asyncio.Task[None]] = set()
        self._audit = _AuditBudget(unverified_audit_per_minute)
        self._grants = grants
        self._on_request_unlock = on_request_unlock

    async def handle(self, payload: bytes) -> CommandReply:
        """Verify and execute one message of the commands topic; return the reply to send.

        Never raises for anything the message contains; every refusal is a reply with
        outcome ``rejected`` and a reason.
        """
        command: Command | None = None
        try:
            command = self._verified(payload)
            reply = await self._execute(command)
        except _Rejected as rej:
            reply = self._reject(rej)
        if command is not None:
            self._tell_requester(command, reply)
        return reply

    def _tell_requester(self, command: Command, reply: CommandReply) -> None:
        body = command.body
        if self._on_request_unlock is None or not isinstance(body, UnlockAction) or body.request_id is None:
            return
        try:
            self._on_request_unlock(body.request_id, body.compartment, reply)
        except Exception:
            # An observer's bug must not turn an executed command into a failed one.
            log.exception("kiosk request observer failed")

    # ------------------------------------------------------------------ verification

    def _verified(self, payload: bytes) -> Command:
        try:
            signed = decode(SignedCommand, payload)
        except MessageError as exc:
            reason = RejectReason.MALFORMED
            if _schema_version(payload) not in (None, SCHEMA_VERSION):
                reason = RejectReason.UNSUPPORTED_VERSION
            raise _Rejected(reason, str(exc)) from exc
        try:
            command = self._verifier.verify(signed)
        except SignatureError as exc:
            reason = _reason_of(exc)
            detail = str(exc.args[1]) if len(exc.args) > 1 else ""
            raise _Rejected(reason, detail, _peek_id(signed)) from exc
        problem = check_window(command, self._box_id, self._clock(), self._skew_s)
        if problem is not None:
            raise _Rejected(problem[0], problem[1], command.id)
        return command

    # ------------------------------------------------------------------ execution

    async def _execute(self, command: Command) -> CommandReply:
        body = command.body
        # Claim the id first: a duplicate delivered while the original still waits for its
        # door is refused at once, and a crash after the pulse cannot lead to a second one.
        if not self._ledger.claim(command.id, command.expires_at, self._clock()):
            raise _Rejected(RejectReason.REPLAYED, "command id was already executed", command.id)
        if isinstance(body, SnapshotAction):
            if self._on_snapshot is not None:
                await self._on_snapshot(command.id)
            return self._finish(command.id, None, CommandOutcome.DONE)
        if isinstance(body, GrantsAction | RevokeGrantsAction):
            return self._apply_grants(command.id, body)
        assert isinstance(body, UnlockAction)
        number = body.compartment
        if number not in self._compartments or number not in self._hw.compartments:
            raise _Rejected(RejectReason.UNKNOWN_COMPARTMENT, f"no compartment {number}", command.id, number)
        lock = self._locks.setdefault(number, asyncio.Lock())
        # One command per compartment at a time; others run concurrently. The lock is
        # released by _unlock, possibly only when its last pulse ends (after the reply).
        await lock.acquire()
        try:
            # It may have waited for an earlier command of this compartment: check again.
            problem = check_window(command, self._box_id, self._clock(), self._skew_s)
            if problem is not None:
                raise _Rejected(problem[0], problem[1], command.id, number)
            if self._hw.door_is_open(number):
                raise _Rejected(RejectReason.DOOR_ALREADY_OPEN, f"door {number} is open", command.id, number)
        except BaseException:
            lock.release()
            raise
        return await self._unlock(command.id, number, lock)

    async def _unlock(self, command_id: uuid.UUID, number: int, lock: asyncio.Lock) -> CommandReply:
        try:
            opened = await self._pulse_until_open(number, lock, command_id=command_id)
        except UnknownCompartment as exc:
            raise _Rejected(RejectReason.UNKNOWN_COMPARTMENT, str(exc), command_id, number) from exc
        except HardwareError as exc:
            raise _Rejected(RejectReason.HARDWARE_ERROR, str(exc), command_id, number) from exc
        if opened:
            return self._finish(command_id, number, CommandOutcome.OPENED)
        detail = f"door did not open after {UNLOCK_ATTEMPTS} pulses"
        reply = self._finish(command_id, number, CommandOutcome.JAMMED, detail=detail)
        self._compartments.jammed(number, detail)
        return reply

    async def _pulse_until_open(
        self,
        number: int,
        lock: asyncio.Lock,
        *,
        command_id: uuid.UUID | None = None,
        grant_id: uuid.UUID | None = None,
    ) -> bool:
        """Pulse ``number`` (once more if needed) until its door is seen open.

        ``lock`` (held by the caller) is released when the last pulse has ended, possibly
        after this returns.

        Returns:
            True once the door is seen open; False if it stayed shut after every attempt.

        Raises:
            HardwareError: a pulse failed (nothing holds the latch open).
        """
        pulse: asyncio.Task[None] | None = None
        try:
            for attempt in range(1, UNLOCK_ATTEMPTS + 1):
                if pulse is not None:
                    await _settled(pulse)  # never two pulses of one coil at once
                # Announce the release before the pulse: a spring-loaded door is seen open
                # while the coil is still energised, and must count as opened by this cause.
                waiter = self._compartments.release(number, command_id, grant_id=grant_id)
                # Recorded before energising so the event sequence reads pulse → opened.
                self._outbox.append(
                    LockPulsed(
                        compartment=number,
                        command_id=command_id,
                        grant_id=grant_id,
                        pulse_ms=self._pulse_ms.get(number, 0),
                    )
                )
                pulse = asyncio.create_task(self._hw.pulse(number), name=f"docbox-pulse-{number}")
                self._pulses.add(pulse)
                pulse.add_done_callback(self._pulses.discard)
                try:
                    await self._confirmed(pulse, waiter)
                except UnknownCompartment:
                    self._compartments.relock(number, waiter)
                    raise
                except HardwareError as exc:
                    self._compartments.relock(number, waiter)
                    log.error("compartment %d: pulse failed: %s", number, exc)
                    raise
                except TimeoutError:
                    self._compartments.relock(number, waiter)
                    log.warning(
                        "compartment %d: door did not open within %g s of pulse %d of %d",
                        number,
                        self._confirm_s,
                        attempt,
                        UNLOCK_ATTEMPTS,
                    )
                    continue
                except asyncio.CancelledError:
                    # Shutting down mid-unlock: coil off now, and nobody holds the latch open.
                    pulse.cancel()
                    self._compartments.relock(number, waiter)
                    raise
                # The caller may answer while the coil is still energised; the compartment
                # stays busy until the pulse has ended (see finally).
                return True
        finally:
            if pulse is None or pulse.done():
                _release(lock, pulse)
            else:
                pulse.add_done_callback(lambda task: _release(lock, task))
        return False

    # ------------------------------------------------------------------ pickup grants

    def _apply_grants(self, command_id: uuid.UUID, body: GrantsAction | RevokeGrantsAction) -> CommandReply:
        if self._grants is None:
            raise _Rejected(RejectReason.MALFORMED, "this agent keeps no pickup grants", command_id)
        try:
            if isinstance(body, GrantsAction):
                applied = self._grants.apply(body)
                detail = (
                    f"{applied.installed} installed, {applied.kept_used} already used,"
                    f" {applied.removed} removed"
                )
            else:
                detail = f"{self._grants.revoke(body.grant_ids)} revoked"
        except StoreError as exc:
            log.error("cannot store pickup grants: %s", exc)
            raise _Rejected(RejectReason.HARDWARE_ERROR, f"grant store: {exc}", command_id) from exc
        log.info("grants command %s: %s", command_id, detail)
        return self._finish(command_id, None, CommandOutcome.DONE, detail=detail)

    async def open_for_grant(self, grant_id: uuid.UUID) -> GrantOpening:
        """Open the compartment of a pickup grant whose sign-in the kiosk verified.

        The one grant-based path to the coils. The grant is checked again from the store
        (unused, valid now, its compartment usable and shut), then claimed — committed before
        the pulse, so it opens at most once, also across restarts — and the door is pulsed
        and confirmed by its sensor exactly like a command (one retry, then ``jammed``,
        which marks the compartment defective until a confirmed opening clears it).
        """
        grants = self._grants
        grant = grants.get(grant_id) if grants is not None else None
        if grants is None or grant is None:
            return GrantOpening(CommandOutcome.REJECTED, refusal=GrantRefusal.UNKNOWN_GRANT)
        number = grant.compartment
        refusal = self._grant_refusal(number)
        if refusal is not None:
            return GrantOpening(CommandOutcome.REJECTED, number, refusal)
        lock = self._locks.setdefault(number, asyncio.Lock())
        await lock.acquire()
        try:
            # Checked (again) under the compartment's lock: it may have waited for a command.
            current = grants.get(grant_id)
            refusal = self._grant_refusal(number)
            if current is None:
                refusal = GrantRefusal.UNKNOWN_GRANT
            elif not current.usable:
                refusal = GrantRefusal.ALREADY_USED
            elif not current.valid_at(self._clock()):
                refusal = GrantRefusal.NOT_VALID_NOW
            elif refusal is None and self._hw.door_is_open(number):
                refusal = GrantRefusal.DOOR_ALREADY_OPEN
            if refusal is None and not grants.claim(grant_id, self._clock()):
                refusal = GrantRefusal.ALREADY_USED
        except BaseException:
            lock.release()
            raise
        if refusal is not None:
            lock.release()
            return GrantOpening(CommandOutcome.REJECTED, number, refusal)
        try:
            opened = await self._pulse_until_open(number, lock, grant_id=grant_id)
        except HardwareError:
            return GrantOpening(CommandOutcome.REJECTED, number, GrantRefusal.HARDWARE_ERROR)
        if opened:
            grants.mark_opened(grant_id, self._clock())
            return GrantOpening(CommandOutcome.OPENED, number)
        self._compartments.jammed(number, f"door did not open after {UNLOCK_ATTEMPTS} pulses (pickup)")
        return GrantOpening(CommandOutcome.JAMMED, number)

    def _grant_refusal(self, number: int) -> GrantRefusal | None:
        if number not in self._compartments or number not in self._hw.compartments:
            return GrantRefusal.UNKNOWN_COMPARTMENT
        if AlarmKind.JAMMED in self._compartments.alarms(number):
            return GrantRefusal.DEFECTIVE
        return None

    async def _confirmed(self, pulse: asyncio.Task[None], opened: asyncio.Future[None]) -> None:
        """Wait until the door is seen open, ``unlock_confirm_s`` from the start of the pulse.

        Raises:
            TimeoutError: the door did not open in time.
            HardwareError: the pulse failed.
        """
        async with asyncio.timeout(self._confirm_s):
            done, _ = await asyncio.wait({pulse, opened}, return_when=asyncio.FIRST_COMPLETED)
            if pulse in done:
                pulse.result()  # a failed pulse raises here
            await opened

    async def wait_idle(self) -> None:
        """Wait until no coil pulse started by this executor is running."""
        while self._pulses:
            await asyncio.wait(set(self._pulses))

    # ------------------------------------------------------------------ results

    def _finish(
        self,
        command_id: uuid.UUID,
        compartment: int | None,
        outcome: CommandOutcome,
        reason: RejectReason | None = None,
        detail: str | None = None,
    ) -> CommandReply:
        self._outbox.append(
            CommandResult(
                command_id=command_id, compartment=compartment, outcome=outcome, reason=reason, detail=detail
            )
        )
        return CommandReply(
            command_id=command_id,
            box_id=self._box_id,
            at=utcnow(),
            outcome=outcome,
            reason=reason,
            detail=detail,
        )

    def _reject(self, rej: _Rejected) -> CommandReply:
        detail = rej.detail[:200] if rej.detail else None
        log.warning(
            "command %s rejected: %s%s",
            rej.command_id or "(no id)",
            rej.reason.value,
            f" ({detail})" if detail else "",
        )
        verified = rej.reason not in _UNVERIFIED
        if rej.command_id is not None and (verified or self._audit.take()):
            if not verified:
                detail = ("unverified id; " + (detail or ""))[:200]
            return self._finish(rej.command_id, rej.compartment, CommandOutcome.REJECTED, rej.reason, detail)
        return CommandReply(
            command_id=rej.command_id,
            box_id=self._box_id,
            at=utcnow(),
            outcome=CommandOutcome.REJECTED,
            reason=rej.reason,
            detail=detail,
        )


#: Reasons given before the signature verified: the command id in them is only a claim.
_UNVERIFIED = frozenset(
    {
        RejectReason.MALFORMED,
        RejectReason.UNSUPPORTED_VERSION,
        RejectReason.UNKNOWN_KEY,
        RejectReason.BAD_SIGNATURE,
    }
)


async def _settled(task: asyncio.Task[None]) -> None:
    """Wait for ``task`` to end, whatever its outcome (which was handled elsewhere)."""
    await asyncio.wait({task})


def _release(lock: asyncio.Lock, pulse: asyncio.Task[None] | None) -> None:
    """Free a compartment once its pulse has ended; log a failure nobody awaited."""
    if pulse is not None and not pulse.cancelled():
        exc = pulse.exception()
        if exc is not None and not isinstance(exc, HardwareError):
            log.error("coil pulse failed unexpectedly", exc_info=exc)
    lock.release()


def _reason_of(exc: SignatureError) -> RejectReason:
    """The reason a verifier error carries (``args[0]``); bad_signature if it carries none."""
    try:
        return RejectReason(exc.args[0])
    except (IndexError, ValueError):
        return RejectReason.BAD_SIGNATURE


def _schema_version(payload: bytes) -> object:
    """The ``v`` field of a JSON object payload, or None."""
    try:
        raw = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return raw.get("v") if isinstance(raw, dict) else None


def _peek_id(signed: SignedCommand) -> uuid.UUID | None:
    """Read the (unverified) command id, so a refusal can name the command it refuses."""
    try:
        raw = json.loads(b64d(signed.payload))
        return uuid.UUID(str(raw["id"])) if isinstance(raw, dict) else None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
