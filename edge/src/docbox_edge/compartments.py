"""Door and lock state of every compartment, and the alarms derived from it (principle 6).

:class:`Compartments` consumes the debounced door signals of the hardware and the
executor's notices ("the latch of 17 was released by command X") and turns them into
events:

- door opened while its latch was released → ``door_opened`` with the command id;
- door opened without a release → ``door_opened(forced)`` + ``forced_open`` alarm,
  cleared when the door shuts;
- door open longer than ``left_open_s`` → ``left_open`` alarm, cleared when it shuts;
- sensor flapping → ``flapping`` alarm, cleared after ``flapping_clear_s`` of quiet;
- unlocked but never opened (reported by the executor) → ``jammed`` alarm, cleared by
  the next confirmed opening;
- door shut → ``door_closed`` with how long it stood open; the latch counts as locked.

Timers use ``loop.call_later``; nothing polls.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol, cast

from docbox_edge.hardware.lockboard import DoorChange, DoorFlapping, DoorSignal, DoorState
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    CompartmentState,
    DoorClosed,
    DoorOpened,
    DoorPosition,
    EventData,
    utcnow,
)

log = logging.getLogger(__name__)

#: Receives every event the state machine produces, with the wall-clock time it happened.
Emit = Callable[[EventData, datetime], object]

SizeClass = Literal["S", "M", "L"]


class CompartmentInfo(Protocol):
    """What the state machine needs to know about a compartment from the box configuration."""

    @property
    def number(self) -> int:
        """Compartment number as printed on the door."""

    @property
    def size(self) -> str | None:
        """Size class ``S``, ``M`` or ``L``."""

    @property
    def height_cm(self) -> int | None:
        """Height of the door's bottom edge above the floor."""


@dataclass(eq=False)
class _Compartment:
    number: int
    size: SizeClass | None
    height_cm: int | None
    door: DoorPosition = DoorPosition.UNKNOWN
    opened_at: float | None = None  # monotonic
    opened_at_known: bool = True  # False for a door found open at start-up
    released_by: uuid.UUID | None = None  # command or grant whose pulse released the latch
    released_for_grant: bool = False  # released_by is a pickup grant, not a command
    open_waiters: list[asyncio.Future[None]] = field(default_factory=list)
    closed_waiters: list[asyncio.Future[None]] = field(default_factory=list)
    alarms: dict[AlarmKind, None] = field(default_factory=dict)  # insertion-ordered set
    left_open_timer: asyncio.TimerHandle | None = None
    flapping_timer: asyncio.TimerHandle | None = None


class Compartments:
    """The state machine of all compartments of one box."""

    def __init__(
        self,
        infos: Iterable[CompartmentInfo],
        emit: Emit,
        *,
        left_open_s: float = 120.0,
        flapping_clear_s: float = 60.0,
    ) -> None:
        """Track the compartments ``infos``; every event goes to ``emit``.

        Args:
            infos: the compartments of the box configuration.
            emit: called synchronously with each event (the outbox's ``append``).
            left_open_s: how long a door may stand open before ``left_open`` is raised.
            flapping_clear_s: quiet time after which a ``flapping`` alarm is cleared.
        """
        self._emit = emit
        self._left_open_s = left_open_s
        self._flapping_clear_s = flapping_clear_s
        self._by_number: dict[int, _Compartment] = {}
        for info in infos:
            size = info.size if info.size in ("S", "M", "L") else None
            self._by_number[info.number] = _Compartment(
                info.number, cast("SizeClass | None", size), info.height_cm
            )

    # ------------------------------------------------------------------ queries

    def __contains__(self, number: object) -> bool:
        """Tell whether the box has compartment ``number``."""
        return number in self._by_number

    def door(self, number: int) -> DoorPosition:
        """Debounced door position of ``number`` as last reported."""
        return self._by_number[number].door

    def alarms(self, number: int) -> list[AlarmKind]:
        """Active alarms of ``number``, oldest first."""
        return list(self._by_number[number].alarms)

    def doors_open(self) -> int:
        """How many doors stand open."""
        return sum(1 for c in self._by_number.values() if c.door is DoorPosition.OPEN)

    def snapshot(self) -> list[CompartmentState]:
        """The state of every compartment, in compartment order."""
        return [
            CompartmentState(
                number=c.number,
                door=c.door,
                locked=c.released_by is None,
                alarms=list(c.alarms),
                size=c.size,
                height_cm=c.height_cm,
            )
            for c in sorted(self._by_number.values(), key=lambda c: c.number)
        ]

    # ------------------------------------------------------------------ inputs

    def load(self, door_is_open: Callable[[int], bool]) -> None:
        """Take the initial door positions from the hardware (no events are emitted).

        A door found open at start-up starts its ``left_open`` timer; whether it was forced
        cannot be known, so no ``forced_open`` alarm is raised for it.
        """
        now = time.monotonic()
        for c in self._by_number.values():
            if door_is_open(c.number):
                # How long it has stood open is unknown: the timer counts from now, and the
                # door_closed event will say open_ms=None.
                c.door, c.opened_at, c.opened_at_known = DoorPosition.OPEN, now, False
                self._arm_left_open(c, now)
            else:
                c.door = DoorPosition.CLOSED

    def release(
        self, number: int, command_id: uuid.UUID | None = None, *, grant_id: uuid.UUID | None = None
    ) -> asyncio.Future[None]:
        """Note that the executor is about to pulse ``number`` for a command or a pickup grant.

        Call it *before* the pulse, so an opening seen during the pulse is attributed to
        the command (or grant). Returns a future that completes when the door is seen open.

        Raises:
            ValueError: unless exactly one of ``command_id`` and ``grant_id`` is given.
        """
        if (command_id is None) == (grant_id is None):
            raise ValueError("exactly one of command_id and grant_id is required")
        c = self._by_number[number]
        c.released_by = command_id or grant_id
        c.released_for_grant = grant_id is not None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        c.open_waiters.append(waiter)
        return waiter

    def relock(self, number: int, waiter: asyncio.Future[None] | None = None) -> None:
        """The release window of ``number`` ended without the door opening: latch locked again."""
        c = self._by_number[number]
        if waiter is not None:
            waiter.cancel()
            if waiter in c.open_waiters:
                c.open_waiters.remove(waiter)
        if c.door is not DoorPosition.OPEN:
            c.released_by = None

    def wait_closed(self, number: int) -> asyncio.Future[None]:
        """A future that completes when the door of ``number`` is next seen shut.

        Already completed if the door is shut now.
        """
        c = self._by_number[number]
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if c.door is DoorPosition.CLOSED:
            waiter.set_result(None)
        else:
            c.closed_waiters.append(waiter)
        return waiter

    def jammed(self, number: int, detail: str | None = None) -> None:
        """Raise the ``jammed`` alarm: the latch was pulsed but the door never opened."""
        self._raise(self._by_number[number], AlarmKind.JAMMED, utcnow(), detail)

    def handle(self, signal: DoorSignal) -> None:
        """Apply one debounced door signal from the hardware."""
        c = self._by_number.get(signal.compartment)
        if c is None:
            log.warning("door signal for unknown compartment %s ignored", signal.compartment)
            return
        at = _wall_time(signal.at) if isinstance(signal, DoorChange) else utcnow()
        if c.flapping_timer is not None:
            self._arm_flapping_clear(c)  # still noisy: restart the quiet period
        if isinstance(signal, DoorFlapping):
            detail = f"{signal.changes} changes in {signal.window_s:g} s"
            self._raise(c, AlarmKind.FLAPPING, at, detail)
            self._arm_flapping_clear(c)
        elif signal.state is DoorState.OPEN:
            self._opened(c, signal.at, at)
        else:
            self._closed(c, signal.at, at)

    async def run(self, signals: AsyncIterator[DoorSignal]) -> None:
        """Consume ``signals`` until cancelled; a failing signal is logged and skipped."""
        async for signal in signals:
            try:
                self.handle(signal)
            except Exception:
                # One bad signal (or a full disk in the outbox) must not stop door tracking.
                log.exception("cannot process door signal %r", signal)

    def close(self) -> None:
        """Cancel all timers and pending waiters."""
        for c in self._by_number.values():
            for timer in (c.left_open_timer, c.flapping_timer):
                if timer is not None:
                    timer.cancel()
            c.left_open_timer = c.flapping_timer = None
            for waiter in (*c.open_waiters, *c.closed_waiters):
                waiter.cancel()
            c.open_waiters.clear()
            c.closed_waiters.clear()

    # ------------------------------------------------------------------ transitions

    def _opened(self, c: _Compartment, mono: float, at: datetime) -> None:
        if c.door is DoorPosition.OPEN:
            return
        c.door, c.opened_at, c.opened_at_known = DoorPosition.OPEN, mono, True
        if c.released_by is not None:
            if c.released_for_grant:
                self._emit(DoorOpened(compartment=c.number, grant_id=c.released_by), at)
            else:
                self._emit(DoorOpened(compartment=c.number, command_id=c.released_by), at)
            self._clear(c, AlarmKind.JAMMED, at)
            for waiter in c.open_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            c.open_waiters.clear()
        else:
            self._emit(DoorOpened(compartment=c.number, forced=True), at)
            self._raise(c, AlarmKind.FORCED_OPEN, at, "opened without an unlock")
        self._arm_left_open(c, mono)

    def _closed(self, c: _Compartment, mono: float, at: datetime) -> None:
        if c.door is DoorPosition.CLOSED:
            return
        was_open = c.door is DoorPosition.OPEN
        open_ms = None
        if was_open and c.opened_at is not None and c.opened_at_known:
            open_ms = max(0, round((mono - c.opened_at) * 1000))
        c.door, c.opened_at = DoorPosition.CLOSED, None
        if c.left_open_timer is not None:
            c.left_open_timer.cancel()
            c.left_open_timer = None
        if was_open:
            # The latch engages as the door shuts; a release without an opening stays
            # with the executor until it relocks.
            c.released_by = None
        self._emit(DoorClosed(compartment=c.number, open_ms=open_ms), at)
        self._clear(c, AlarmKind.LEFT_OPEN, at)
        self._clear(c, AlarmKind.FORCED_OPEN, at)
        waiters, c.closed_waiters = c.closed_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ alarms and timers

    def _raise(self, c: _Compartment, kind: AlarmKind, at: datetime, detail: str | None = None) -> None:
        if kind in c.alarms:
            return
        c.alarms[kind] = None
        log.warning(
            "compartment %d: alarm %s raised%s", c.number, kind.value, f" ({detail})" if detail else ""
        )
        self._emit(AlarmRaised(compartment=c.number, alarm=kind, active=True, detail=detail), at)

    def _clear(self, c: _Compartment, kind: AlarmKind, at: datetime) -> None:
        if kind not in c.alarms:
            return
        del c.alarms[kind]
        log.info("compartment %d: alarm %s cleared", c.number, kind.value)
        self._emit(AlarmRaised(compartment=c.number, alarm=kind, active=False), at)

    def _arm_left_open(self, c: _Compartment, opened_mono: float) -> None:
        if c.left_open_timer is not None:
            c.left_open_timer.cancel()
        delay = max(0.0, self._left_open_s - (time.monotonic() - opened_mono))
        c.left_open_timer = asyncio.get_running_loop().call_later(delay, self._left_open_due, c)

    def _left_open_due(self, c: _Compartment) -> None:
        c.left_open_timer = None
        if c.door is DoorPosition.OPEN:
            self._guarded(
                self._raise, c, AlarmKind.LEFT_OPEN, utcnow(), f"open for more than {self._left_open_s:g} s"
            )

    def _arm_flapping_clear(self, c: _Compartment) -> None:
        if c.flapping_timer is not None:
            c.flapping_timer.cancel()
        c.flapping_timer = asyncio.get_running_loop().call_later(
            self._flapping_clear_s, self._flapping_quiet, c
        )

    def _flapping_quiet(self, c: _Compartment) -> None:
        c.flapping_timer = None
        self._guarded(self._clear, c, AlarmKind.FLAPPING, utcnow())

    @staticmethod
    def _guarded(fn: Callable[..., None], *args: object) -> None:
        # Timer callbacks run outside any task: an exception would only reach the loop's
        # exception handler, so log it here with context instead.
        try:
            fn(*args)
        except Exception:
            log.exception("compartment alarm timer failed")


def _wall_time(mono: float) -> datetime:
    """Convert a monotonic timestamp of the hardware layer to wall-clock time."""
    return utcnow() - timedelta(seconds=max(0.0, time.monotonic() - mono))
