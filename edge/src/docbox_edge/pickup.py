"""Collection at the kiosk: sign-in against the stored grants, opening, and the handover.

Works the same with the broker unreachable: everything it needs is in the agent's store,
and everything it reports goes through the outbox.

1. :meth:`PickupDesk.sign_in` checks login + PIN + date of birth against the stored grants
   (scrypt, in a worker thread) and applies the lockouts; each failure is recorded as a
   ``signin_failed`` event without personal data.
2. :meth:`PickupDesk.open` asks the executor to open the grant's compartment (the one
   verified path to the coils).
3. When that door is shut again the handover is complete: ``pickup_completed`` (with
   ``offline`` telling whether the broker was unreachable) goes to the outbox and the grant
   is marked completed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from docbox_edge.compartments import Compartments
from docbox_edge.executor import Executor, GrantOpening
from docbox_edge.grants import GrantStore, StoredGrant
from docbox_edge.lockout import Lockouts
from docbox_edge.outbox import Outbox
from docbox_protocol.grants import new_salt, secret_hash, verify_secret
from docbox_protocol.messages import (
    CommandOutcome,
    DoorPosition,
    PickupCompleted,
    SignInFailed,
    SignInFailReason,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignInResult:
    """The outcome of one sign-in attempt.

    Attributes:
        grants: The grants the applicant may collect now (empty when refused).
        reason: Why it was refused; None on success.
        retry_after_s: With ``locked_out``: seconds until the lockout ends.
        box_paused: With ``locked_out``: the whole kiosk is paused, not just this login.
    """

    grants: tuple[StoredGrant, ...] = ()
    reason: SignInFailReason | None = None
    retry_after_s: float | None = None
    box_paused: bool = False

    @property
    def ok(self) -> bool:
        """Whether the applicant is signed in."""
        return self.reason is None


@dataclass(eq=False)
class _Handover:
    compartment: int
    done: asyncio.Event = field(default_factory=asyncio.Event)


class PickupDesk:
    """Sign-in, opening and handover for the kiosk of one box."""

    def __init__(
        self,
        *,
        grants: GrantStore,
        lockouts: Lockouts,
        executor: Executor,
        compartments: Compartments,
        outbox: Outbox,
        is_online: Callable[[], bool],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Wire the desk.

        Args:
            grants: the stored pickup grants.
            lockouts: failed sign-in counters and lockouts.
            executor: opens compartments (the only code that pulses coils).
            compartments: tells when a door is shut again.
            outbox: where ``signin_failed`` and ``pickup_completed`` go.
            is_online: whether the broker link is up (reported with each pickup).
            clock: the wall clock (tests move it).
        """
        self._grants = grants
        self._lockouts = lockouts
        self._executor = executor
        self._compartments = compartments
        self._outbox = outbox
        self._is_online = is_online
        self._clock = clock
        self._handovers: dict[uuid.UUID, _Handover] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        # Compared against for unknown logins, so that a refusal takes as long as a check
        # and the timing does not tell which logins have a document waiting.
        salt = new_salt()
        self._decoy = (salt, secret_hash(salt, "0000", date(2000, 1, 1)))

    # ------------------------------------------------------------------ sign-in

    async def sign_in(self, login: str, pin: str, date_of_birth: date) -> SignInResult:
        """Check a sign-in; never raises for anything the applicant typed.

        Raises:
            StoreError: the store cannot be read or written.
        """
        now = self._clock()
        t = now.timestamp()
        box_until = self._lockouts.box_locked_until(t)
        if box_until is not None:
            return self._refuse(
                SignInFailReason.LOCKED_OUT, None, retry_after_s=box_until - t, box_paused=True
            )
        candidates = self._grants.for_login(login)
        if not candidates:
            await asyncio.to_thread(verify_secret, *self._decoy, pin, date_of_birth)
            self._lockouts.record_failure(t)
            return self._refuse(SignInFailReason.UNKNOWN_LOGIN, None)
        login_key = candidates[0].login_hash
        first_id = candidates[0].grant_id
        login_until = self._lockouts.login_locked_until(login_key, t)
        if login_until is not None:
            return self._refuse(SignInFailReason.LOCKED_OUT, first_id, retry_after_s=login_until - t)
        matched = await asyncio.to_thread(_matching, candidates, pin, date_of_birth)
        if not matched:
            self._lockouts.record_failure(t, login_key)
            return self._refuse(SignInFailReason.WRONG_SECRET, first_id)
        # The right secret: from here on nothing counts towards a lockout.
        self._lockouts.reset_login(login_key)
        valid = tuple(g for g in matched if g.valid_at(now))
        if not valid:
            return self._refuse(SignInFailReason.NOT_VALID_NOW, matched[0].grant_id)
        return SignInResult(grants=valid)

    def _refuse(
        self,
        reason: SignInFailReason,
        grant_id: uuid.UUID | None,
        retry_after_s: float | None = None,
        box_paused: bool = False,
    ) -> SignInResult:
        self._outbox.append(SignInFailed(grant_id=grant_id, reason=reason))
        log.info("kiosk sign-in refused: %s", reason.value)
        return SignInResult(reason=reason, retry_after_s=retry_after_s, box_paused=box_paused)

    # ------------------------------------------------------------------ opening and handover

    async def open(self, grant_id: uuid.UUID) -> GrantOpening:
        """Open the compartment of ``grant_id`` (signed in before) and watch for the handover."""
        result = await self._executor.open_for_grant(grant_id)
        if result.outcome is CommandOutcome.OPENED and result.compartment is not None:
            handover = _Handover(result.compartment)
            self._handovers[grant_id] = handover
            task = asyncio.create_task(
                self._complete_when_shut(grant_id, handover), name=f"docbox-handover-{result.compartment}"
            )
            self._watchers.add(task)
            task.add_done_callback(self._watchers.discard)
        return result

    async def wait_handover(self, grant_id: uuid.UUID, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the handover of ``grant_id``; whether it is complete."""
        handover = self._handovers.get(grant_id)
        if handover is None:
            grant = self._grants.get(grant_id)
            return grant is not None and grant.completed_at is not None
        try:
            async with asyncio.timeout(timeout_s):
                await handover.done.wait()
        except TimeoutError:
            return False
        return True

    def recover(self) -> int:
        """Complete handovers interrupted by a restart: door seen open before, shut now.

        Call once the door positions are loaded. Returns how many were completed.
        """
        completed = 0
        for grant in self._grants.unfinished():
            number = grant.compartment
            if number in self._compartments and self._compartments.door(number) is DoorPosition.CLOSED:
                self._complete(grant.grant_id, number)
                completed += 1
            elif number in self._compartments:
                handover = _Handover(number)
                self._handovers[grant.grant_id] = handover
                task = asyncio.create_task(self._complete_when_shut(grant.grant_id, handover))
                self._watchers.add(task)
                task.add_done_callback(self._watchers.discard)
        return completed

    async def close(self) -> None:
        """Stop watching doors (the agent is stopping; unfinished handovers are recovered later)."""
        tasks = list(self._watchers)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _complete_when_shut(self, grant_id: uuid.UUID, handover: _Handover) -> None:
        await self._compartments.wait_closed(handover.compartment)
        try:
            self._complete(grant_id, handover.compartment)
        except Exception:
            # Stays "opened" in the store: completed by recover() at the next start.
            log.exception("cannot record the handover of compartment %d", handover.compartment)
            return
        handover.done.set()

    def _complete(self, grant_id: uuid.UUID, number: int) -> None:
        # The event first: if the agent dies in between, recover() reports the pickup again
        # (the cloud stores a grant's completion once) rather than never.
        self._outbox.append(
            PickupCompleted(compartment=number, grant_id=grant_id, offline=not self._is_online())
        )
        self._grants.mark_completed(grant_id, self._clock())
        log.info("compartment %d: pickup completed", number)


def _matching(candidates: list[StoredGrant], pin: str, date_of_birth: date) -> list[StoredGrant]:
    """The grants whose secret hash matches (runs in a worker thread: scrypt is slow by design)."""
    return [g for g in candidates if verify_secret(g.secret_salt, g.secret_hash, pin, date_of_birth)]
