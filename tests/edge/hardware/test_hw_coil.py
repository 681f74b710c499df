"""Coil pulses are bounded: measured on the mock pin's state history."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator

import pytest
from gpiozero import OutputDevice

from docbox_edge.hardware.coil import Coil
from docbox_edge.hardware.errors import CoilBusy, HardwareError, PulseInterrupted
from docbox_edge.hardware.mockpins import ExtendedMockFactory, SimulatedPin
from tests.edge.hardware.hw_support import TIMING_TOLERANCE_S, level_event, on_durations

PIN = "GPIO40"


@pytest.fixture
def output(factory: ExtendedMockFactory) -> Iterator[OutputDevice]:
    device = OutputDevice(PIN, initial_value=False, pin_factory=factory)
    yield device
    device.close()


@pytest.fixture
def pin(factory: ExtendedMockFactory, output: OutputDevice) -> SimulatedPin:
    mock_pin = factory.pin(PIN)
    assert isinstance(mock_pin, SimulatedPin)
    mock_pin.clear_states()
    return mock_pin


def _block_the_loop(seconds: float) -> None:
    """Stand-in for a slow synchronous call somewhere in the agent."""
    time.sleep(seconds)


async def test_a_pulse_lasts_its_duration_and_ends_off(output: OutputDevice, pin: SimulatedPin) -> None:
    coil = Coil(output, max_pulse_s=2.0, name="t")
    await coil.pulse(0.05)
    [on_for] = on_durations(pin)
    assert 0.05 - 0.005 <= on_for <= 0.05 + TIMING_TOLERANCE_S
    assert pin.state is False
    assert coil.is_on is False
    assert coil.busy is False


async def test_a_long_request_is_clamped_to_the_maximum(output: OutputDevice, pin: SimulatedPin) -> None:
    coil = Coil(output, max_pulse_s=0.05, name="t")
    await asyncio.wait_for(coil.pulse(30.0), 2.0)
    [on_for] = on_durations(pin)
    assert on_for <= 0.05 + TIMING_TOLERANCE_S
    assert pin.state is False


async def test_cancelling_a_pulse_switches_the_coil_off_at_once(
    output: OutputDevice, pin: SimulatedPin
) -> None:
    coil = Coil(output, max_pulse_s=2.0, name="t")
    energised = level_event(pin, True)
    task = asyncio.create_task(coil.pulse(1.5))
    await asyncio.wait_for(energised.wait(), 2.0)
    assert coil.is_on is True
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [on_for] = on_durations(pin)
    assert on_for < 0.5  # far below the requested 1.5 s
    assert pin.state is False
    assert coil.busy is False


async def test_a_concurrent_second_pulse_is_refused(output: OutputDevice, pin: SimulatedPin) -> None:
    coil = Coil(output, max_pulse_s=2.0, name="t")
    first = asyncio.create_task(coil.pulse(0.05))
    await asyncio.sleep(0)  # let the first pulse start
    with pytest.raises(CoilBusy):
        await coil.pulse(0.05)
    await first
    assert len(on_durations(pin)) == 1  # the refused pulse never energised the coil
    await coil.pulse(0.01)  # once the first is over, pulsing works again
    assert len(on_durations(pin)) == 2


@pytest.mark.parametrize("duration", [0.0, -1.0, math.nan])
async def test_a_non_positive_duration_is_refused(
    output: OutputDevice, pin: SimulatedPin, duration: float
) -> None:
    coil = Coil(output, max_pulse_s=2.0, name="t")
    with pytest.raises(ValueError):
        await coil.pulse(duration)
    assert on_durations(pin) == []
    assert pin.state is False


async def test_the_watchdog_switches_off_while_the_loop_is_blocked(
    output: OutputDevice, pin: SimulatedPin
) -> None:
    coil = Coil(output, max_pulse_s=2.0, name="t")
    energised = level_event(pin, True)
    task = asyncio.create_task(coil.pulse(0.05))
    await asyncio.wait_for(energised.wait(), 2.0)
    _block_the_loop(0.2)  # the event loop cannot run the pulse's own switch-off
    [on_for] = on_durations(pin)
    assert on_for <= 0.05 + TIMING_TOLERANCE_S
    await task
    assert pin.state is False


async def test_a_closed_coil_stays_off(output: OutputDevice, pin: SimulatedPin) -> None:
    coil = Coil(output, max_pulse_s=2.0, name="t")
    energised = level_event(pin, True)
    task = asyncio.create_task(coil.pulse(1.0))
    await asyncio.wait_for(energised.wait(), 2.0)
    coil.close()
    assert pin.state is False
    assert coil.is_on is False
    with pytest.raises(PulseInterrupted):
        await asyncio.wait_for(task, 0.5)  # at once, not after the requested second
    assert pin.state is False
    with pytest.raises(HardwareError, match="closed"):
        await coil.pulse(0.01)
