"""A physically behaving box on simulated pins, for demos and end-to-end tests.

`SimulatedBox` sits on the *other* side of the pins that the lock boards drive, so the real
driver code runs unchanged: gpiozero mock pins for GPIO boards, and the `VirtualPin`s of
simulated expander chips and RS-485 controller boards for the other kinds (see
`docbox_edge.hardware.simulation`, which wires a whole mixed box):

- per compartment a spring latch: energising the coil releases it (unless jammed); the door
  can be opened only while released; shutting the door latches it again;
- the door sensor input is driven to "open"/"closed" levels according to the board's wiring
  (pull-up or pull-down, open when active or inactive);
- simulated people open the door some time after the coil was pulsed and shut it later;
- faults: forced doors, jammed latches, chattering and glitching sensors.

It reacts to coil changes through pin observers (no polling) and schedules people and
faults with `loop.call_later`, so timings are deterministic up to the loop's precision.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from docbox_edge.boxconfig import BoxConfig, CompartmentConfig, GpioBoardConfig
from docbox_edge.hardware.errors import UnknownCompartment
from docbox_edge.hardware.mockpins import SimulatedPin
from docbox_edge.hardware.simpins import SimLock, SimPin, SimPinObserver, SimulatedLocks


@dataclass(frozen=True, slots=True)
class AutoPerson:
    """How a simulated person reacts to an unlock.

    Attributes:
        open_after_s: Seconds from the coil being energised until they pull the door.
        shut_after_s: Seconds from opening until they shut it; None leaves it open.
    """

    open_after_s: float
    shut_after_s: float | None


@dataclass(slots=True)
class _Compartment:
    number: int
    coil_pin: SimPin
    sensor_pin: SimPin
    coil_on_level: bool
    sensor_open_level: bool
    is_open: bool = False
    latched: bool = True
    jammed: bool = False
    pulses: int = 0
    person: AutoPerson | None = None
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)

    def sensor_level(self, is_open: bool) -> bool:
        return self.sensor_open_level if is_open else not self.sensor_open_level


class SimulatedBox:
    """The physical side of a box whose boards sit on an `ExtendedMockFactory`.

    Create it before `BoxHardware.start()` (before or after `build_hardware`), so the doors
    already read "closed" when the boards take their initial readings; afterwards every
    door is shut and latched.

    Args:
        config: The box configuration the hardware was built from.
        factory: The `ExtendedMockFactory` the GPIO boards were built on (needed only if
            the configuration has GPIO boards).
        boards: Simulated boards of the other kinds, by board id; they hand out the pins
            of their locks (see `docbox_edge.hardware.simpins.SimulatedLocks`).
        relatch_after_s: If set, a released latch springs back after this long when the
            door was not opened; None keeps it released until the door is opened and shut.
        loop: Event loop for timers; defaults to the running loop.

    Raises:
        ValueError: A board of the configuration is neither a GPIO board (with `factory`)
            nor in `boards`.
    """

    def __init__(
        self,
        config: BoxConfig,
        factory: Any = None,
        *,
        boards: Mapping[str, SimulatedLocks] | None = None,
        relatch_after_s: float | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._relatch_after_s = relatch_after_s
        self._compartments: dict[int, _Compartment] = {}
        self._observer_of: dict[int, SimPinObserver] = {}
        simulated_boards = boards or {}
        for c in config.compartments:
            lock = _sim_lock(config, c, factory, simulated_boards)
            compartment = _Compartment(
                number=c.number,
                coil_pin=lock.coil,
                sensor_pin=lock.sensor,
                coil_on_level=lock.coil_on_level,
                sensor_open_level=lock.sensor_open_level,
            )
            self._compartments[c.number] = compartment
            lock.sensor.drive(compartment.sensor_level(False))
            lock.coil.add_observer(self._coil_observer(c.number))

    # -- people -------------------------------------------------------------------------

    def person_opens(self, compartment: int) -> bool:
        """Pull the door; it opens only if the latch is released. Returns whether it is open."""
        c = self._get(compartment)
        if c.is_open:
            return True
        if c.latched:
            return False
        self._set_open(c, True)
        return True

    def person_shuts(self, compartment: int) -> None:
        """Shut the door; the spring latch catches unless the coil is holding it back."""
        c = self._get(compartment)
        c.latched = not self._coil_energised(c)
        self._set_open(c, False)

    def auto_person(
        self,
        open_after_s: float,
        shut_after_s: float | None,
        compartments: Iterable[int] | None = None,
    ) -> None:
        """Let a simulated person answer every unlock of these compartments (default: all).

        After the coil is energised they pull the door after `open_after_s`; if it opened,
        they shut it after `shut_after_s` (None: they leave it open). A jammed latch makes
        them give up. A later unlock replaces a visit still pending.
        """
        person = AutoPerson(open_after_s=open_after_s, shut_after_s=shut_after_s)
        for c in self._select(compartments):
            c.person = person

    def stop_auto_person(self, compartments: Iterable[int] | None = None) -> None:
        """No more automatic visits for these compartments (default: all); cancels pending ones."""
        for c in self._select(compartments):
            c.person = None
            self._cancel(c, "person")

    # -- faults -------------------------------------------------------------------------

    def force_open(self, compartment: int) -> None:
        """A vandal forces the door open without any unlock; the sensor shows it open."""
        self._set_open(self._get(compartment), True)

    def jam(self, compartment: int) -> None:
        """The latch stays shut even when the coil is pulsed."""
        self._get(compartment).jammed = True

    def unjam(self, compartment: int) -> None:
        """The latch works again."""
        self._get(compartment).jammed = False

    def chatter(self, compartment: int, edges: int, interval_s: float) -> None:
        """Toggle the door sensor `edges` times, one every `interval_s`, starting now.

        A loose wire: the door does not move. The sensor returns to the door's true level
        afterwards.
        """
        c = self._get(compartment)
        remaining = edges

        def step() -> None:
            nonlocal remaining
            if remaining <= 0:
                c.timers.pop("sensor", None)
                c.sensor_pin.drive(c.sensor_level(c.is_open))
                return
            remaining -= 1
            c.sensor_pin.drive(not c.sensor_pin.state)
            c.timers["sensor"] = self._loop.call_later(interval_s, step)

        self._cancel(c, "sensor")
        step()

    def glitch(self, compartment: int, duration_s: float) -> None:
        """Flip the door sensor for `duration_s`, then back; the door does not move."""
        c = self._get(compartment)
        self._cancel(c, "sensor")
        c.sensor_pin.drive(c.sensor_level(not c.is_open))

        def restore() -> None:
            c.timers.pop("sensor", None)
            c.sensor_pin.drive(c.sensor_level(c.is_open))

        c.timers["sensor"] = self._loop.call_later(duration_s, restore)

    # -- inspection ---------------------------------------------------------------------

    @property
    def compartments(self) -> list[int]:
        """Simulated compartment numbers."""
        return list(self._compartments)

    def door_is_open(self, compartment: int) -> bool:
        """The physical truth (not what the sensor or the debouncer says)."""
        return self._get(compartment).is_open

    def is_latched(self, compartment: int) -> bool:
        """Whether the latch holds the door."""
        return self._get(compartment).latched

    def pulse_count(self, compartment: int) -> int:
        """How often the coil was energised since the simulation started."""
        return self._get(compartment).pulses

    def close(self) -> None:
        """Cancel every pending person and fault, and stop watching the coils."""
        for c in self._compartments.values():
            for handle in c.timers.values():
                handle.cancel()
            c.timers.clear()
            c.coil_pin.remove_observer(self._observer_of[c.number])

    # -- internals ----------------------------------------------------------------------

    def _coil_observer(self, number: int) -> SimPinObserver:
        def observer(_pin: Any, level: bool) -> None:
            # Coils are switched on in the loop thread, but the coil watchdog (and the
            # simulated controller boards) switch them from their own threads: hand those
            # changes to the loop.
            if threading.get_ident() == self._loop_thread:
                self._coil_changed(number, level)
                return
            with contextlib.suppress(RuntimeError):  # loop closed: the simulation is over
                self._loop.call_soon_threadsafe(self._coil_changed, number, level)

        self._observer_of[number] = observer
        return observer

    def _coil_changed(self, number: int, level: bool) -> None:
        c = self._compartments[number]
        if level != c.coil_on_level:
            return  # de-energised: the spring latch keeps whatever state it has
        c.pulses += 1
        if not c.jammed:
            c.latched = False
            if self._relatch_after_s is not None and not c.is_open:
                self._schedule(c, "relatch", self._relatch_after_s, self._relatch, c)
        if c.person is not None:
            self._schedule(c, "person", c.person.open_after_s, self._visit, c, c.person)

    def _visit(self, c: _Compartment, person: AutoPerson) -> None:
        c.timers.pop("person", None)
        if self.person_opens(c.number) and person.shut_after_s is not None:
            self._schedule(c, "person", person.shut_after_s, self._leave, c)

    def _leave(self, c: _Compartment) -> None:
        c.timers.pop("person", None)
        self.person_shuts(c.number)

    def _relatch(self, c: _Compartment) -> None:
        c.timers.pop("relatch", None)
        if not c.is_open and not self._coil_energised(c):
            c.latched = True

    def _set_open(self, c: _Compartment, is_open: bool) -> None:
        if is_open:
            self._cancel(c, "relatch")
        c.is_open = is_open
        self._cancel(c, "sensor")  # a real door movement ends any simulated sensor fault
        c.sensor_pin.drive(c.sensor_level(is_open))

    def _coil_energised(self, c: _Compartment) -> bool:
        return bool(c.coil_pin.state) == c.coil_on_level

    def _schedule(self, c: _Compartment, name: str, delay: float, callback: Any, *args: Any) -> None:
        self._cancel(c, name)
        c.timers[name] = self._loop.call_later(delay, callback, *args)

    @staticmethod
    def _cancel(c: _Compartment, name: str) -> None:
        handle = c.timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _select(self, numbers: Iterable[int] | None) -> list[_Compartment]:
        if numbers is None:
            return list(self._compartments.values())
        return [self._get(n) for n in numbers]

    def _get(self, compartment: int) -> _Compartment:
        try:
            return self._compartments[compartment]
        except KeyError:
            raise UnknownCompartment(compartment) from None


def _sim_lock(
    config: BoxConfig, c: CompartmentConfig, factory: Any, boards: Mapping[str, SimulatedLocks]
) -> SimLock:
    simulated = boards.get(c.board)
    if simulated is not None:
        return simulated.lock(c.board_channel)
    board = config.board(c.board)
    if not isinstance(board, GpioBoardConfig):
        raise ValueError(
            f"compartment {c.number}: board {c.board!r} is a {board.kind} board; "
            "pass its simulation in `boards`"
        )
    if factory is None:
        raise ValueError(f"compartment {c.number}: board {c.board!r} is a gpio board; pass the pin factory")
    active_level = not board.door_pull_up  # gpiozero: pulled up means active low
    return SimLock(
        coil=_simulated_pin(factory, c.lock_pin),
        sensor=_simulated_pin(factory, c.door_pin),
        coil_on_level=board.lock_active_high,
        sensor_open_level=active_level if board.door_open_when_active else not active_level,
    )


def _simulated_pin(factory: Any, name: object) -> SimulatedPin:
    pin = factory.pin(name)
    if not isinstance(pin, SimulatedPin):
        raise TypeError(
            f"pin {name!r} is a {type(pin).__name__}; SimulatedBox needs SimulatedPin pins "
            "(use an ExtendedMockFactory)"
        )
    return pin
