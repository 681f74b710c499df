"""Pins of simulated hardware, as `SimulatedBox` sees them.

`SimulatedBox` (the latch/door/person physics) wires itself to a coil output and a door
sensor input per compartment. On GPIO boards those are gpiozero `SimulatedPin`s; on
simulated expander chips and RS-485 controller boards they are `VirtualPin`s. Both satisfy
`SimPin`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

SimPinObserver = Callable[[Any, bool], None]
"""Called as `observer(pin, new_level)` after every level change, in the changing thread."""

DEFAULT_HISTORY = 10_000
"""Level changes each `VirtualPin` remembers in `history`."""


class SimPin(Protocol):
    """What the physics simulation needs from a pin."""

    @property
    def state(self) -> Any:
        """The pin's level (truthy = high)."""
        ...

    def add_observer(self, observer: SimPinObserver) -> None:
        """Call `observer(pin, level)` after every level change."""
        ...

    def remove_observer(self, observer: SimPinObserver) -> None:
        """Stop calling `observer`."""
        ...

    def drive(self, level: bool | None) -> None:
        """Connect the pin to a level from outside (a switch), or disconnect it (None)."""
        ...


@dataclass(frozen=True, slots=True)
class SimLock:
    """The two pins of one simulated lock, and which levels mean what.

    Attributes:
        coil: The coil output; `coil_on_level` = energised (latch released).
        sensor: The door sensor input that the simulation drives.
        coil_on_level: Level of `coil` while the coil is energised.
        sensor_open_level: Level the simulation drives `sensor` to while the door is open.
    """

    coil: SimPin
    sensor: SimPin
    coil_on_level: bool
    sensor_open_level: bool


class SimulatedLocks(Protocol):
    """A simulated board that hands out the pins of its locks, by channel."""

    def lock(self, channel: int) -> SimLock:
        """The pins of one lock."""
        ...


class VirtualPin:
    """A pin of a simulated chip or board: a level, observers and an optional outside drive.

    The owner decides the level with `resolve` (e.g. an expander chip: its output latch, or
    the outside drive, or the pull-up); without one the level is the outside drive, or
    `idle_level` when nothing drives the pin. Thread-safe: owners and simulations may run in
    different threads; observers are called outside the pin's lock.

    Args:
        name: For messages.
        idle_level: Level while nothing drives the pin (no `resolve`).
        resolve: Computes the level from the owner's state; called by `update()`.
        history_limit: Entries kept in `history`.
    """

    def __init__(
        self,
        name: str,
        *,
        idle_level: bool = False,
        resolve: Callable[[VirtualPin], bool] | None = None,
        history_limit: int = DEFAULT_HISTORY,
    ) -> None:
        self.name = name
        self.idle_level = idle_level
        self._resolve = resolve
        self._lock = threading.Lock()
        self._observers: list[SimPinObserver] = []
        self._external: bool | None = None
        self._level = idle_level if resolve is None else resolve(self)
        self.history: deque[tuple[float, bool]] = deque(
            [(time.monotonic(), self._level)], maxlen=history_limit
        )

    def __repr__(self) -> str:
        return f"<VirtualPin {self.name} {'high' if self._level else 'low'}>"

    @property
    def state(self) -> bool:
        """The current level."""
        return self._level

    @property
    def external_drive(self) -> bool | None:
        """The level connected from outside, or None."""
        return self._external

    def add_observer(self, observer: SimPinObserver) -> None:
        """Call `observer(pin, level)` after every level change."""
        with self._lock:
            self._observers.append(observer)

    def remove_observer(self, observer: SimPinObserver) -> None:
        """Stop calling `observer`; unknown observers are ignored."""
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def drive(self, level: bool | None) -> None:
        """Connect the pin to `level` from outside, or disconnect it (None)."""
        self._external = level
        self.update()

    def update(self) -> None:
        """Recompute the level (after the owner's state changed) and notify observers."""
        with self._lock:
            if self._resolve is not None:
                level = self._resolve(self)
            else:
                level = self.idle_level if self._external is None else self._external
            if level == self._level:
                return
            self._level = level
            self.history.append((time.monotonic(), level))
            observers = tuple(self._observers)
        for observer in observers:
            observer(self, level)

    def on_durations(self, on_level: bool = True) -> list[float]:
        """Length of every completed period at `on_level` in the history, in seconds."""
        durations = []
        entries = list(self.history)
        for (since, level), (until, _next) in itertools.pairwise(entries):
            if level == on_level:
                durations.append(until - since)
        return durations
