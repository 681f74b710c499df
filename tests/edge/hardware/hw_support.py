"""Helpers for the hardware tests: small simulated boxes and pin-history arithmetic."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from docbox_edge.boxconfig import BoxConfig, Defaults, generate_simulated_config
from docbox_edge.hardware.box import BoxHardware
from docbox_edge.hardware.lockboard import DoorChange, DoorSignal
from docbox_edge.hardware.mockpins import ExtendedMockFactory, SimulatedPin
from docbox_edge.hardware.simulated import SimulatedBox

# Loop and thread wake-ups on a busy machine; pulses are asserted to this precision.
TIMING_TOLERANCE_S = 0.05


def sim_config(
    count: int = 8,
    *,
    pulse_ms: int = 40,
    debounce_ms: int = 10,
    flapping_changes: int = 10,
    flapping_window_ms: int = 1000,
    box_id: str = "test-box",
) -> BoxConfig:
    """A simulated box with fast timings (its L compartments override pulse_ms with 400)."""
    base = generate_simulated_config(box_id, count)
    defaults = Defaults(
        pulse_ms=pulse_ms,
        debounce_ms=debounce_ms,
        flapping_changes=flapping_changes,
        flapping_window_ms=flapping_window_ms,
    )
    return BoxConfig(
        box_id=base.box_id, defaults=defaults, boards=base.boards, compartments=base.compartments
    )


def on_durations(pin: SimulatedPin, on_level: bool = True) -> list[float]:
    """Length of every completed 'on' period in the pin's state history, in seconds.

    `MockPin.states` holds (seconds since the previous change, new state) pairs.
    """
    durations = []
    states: Sequence[Any] = list(pin.states)
    for previous, current in itertools.pairwise(states):
        if bool(previous.state) == on_level and bool(current.state) != on_level:
            durations.append(current.timestamp)
    return durations


def is_on(pin: SimulatedPin, on_level: bool = True) -> bool:
    """Whether the pin is at its 'on' level now."""
    return bool(pin.state) == on_level


def level_event(pin: SimulatedPin, level: bool) -> asyncio.Event:
    """An event set (on the loop thread) as soon as the pin reaches `level`."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()

    def observer(_pin: SimulatedPin, state: bool) -> None:
        if state == level:
            loop.call_soon_threadsafe(event.set)

    pin.add_observer(observer)
    if bool(pin.state) == level:
        event.set()
    return event


@dataclass
class Rig:
    """A started simulated box: configuration, pins, driver and the physical simulation."""

    config: BoxConfig
    factory: ExtendedMockFactory
    hardware: BoxHardware
    sim: SimulatedBox
    _signals: AsyncIterator[DoorSignal] | None = field(default=None, repr=False)

    def lock_pin(self, compartment: int) -> SimulatedPin:
        pin = self.factory.pin(self.config.compartment(compartment).lock_pin)
        assert isinstance(pin, SimulatedPin)
        return pin

    def door_pin(self, compartment: int) -> SimulatedPin:
        pin = self.factory.pin(self.config.compartment(compartment).door_pin)
        assert isinstance(pin, SimulatedPin)
        return pin

    async def next_signal(self, within_s: float = 2.0) -> DoorSignal:
        """The next door signal, or TimeoutError after `within_s` seconds."""
        if self._signals is None:
            self._signals = self.hardware.signals()
        try:
            return await asyncio.wait_for(anext(self._signals), within_s)
        except TimeoutError:
            # The cancelled generator is finished; the queue kept any later signal.
            self._signals = None
            raise

    async def next_change(self, within_s: float = 2.0) -> DoorChange:
        """The next door signal, which must be a `DoorChange`."""
        signal = await self.next_signal(within_s)
        assert isinstance(signal, DoorChange), signal
        return signal

    async def assert_no_signal(self, wait_s: float) -> None:
        """Let `wait_s` pass and check that no door signal arrived meanwhile."""
        try:
            signal = await self.next_signal(within_s=wait_s)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected door signal {signal!r}")


async def until(predicate: Callable[[], bool], within_s: float = 2.0) -> None:
    """Wait until `predicate()` holds; TimeoutError after `within_s` seconds."""
    async with asyncio.timeout(within_s):
        # Polling: the debounced door state has no event of its own to wait on.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


MakeRig = Callable[[BoxConfig], Awaitable[Rig]]
"""Type of the `make_rig` fixture."""
