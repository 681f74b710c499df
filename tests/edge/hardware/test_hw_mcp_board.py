"""Lock boards on MCP23017 expanders: the unchanged GPIO board driver on the expander pin factory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from docbox_edge.hardware.gpio import GpioLockBoard
from docbox_edge.hardware.i2c_sim import SimulatedI2CBus, SimulatedMcp23017
from docbox_edge.hardware.lockboard import ChannelChange, ChannelSignal, DoorChange, DoorState
from docbox_edge.hardware.mcp23017 import Mcp23017Factory
from docbox_edge.hardware.simulation import SimulatedHardware
from tests.edge.hardware.bus_boards_support import mcp_config
from tests.edge.hardware.hw_support import TIMING_TOLERANCE_S, until


@pytest.fixture
async def mcp_box() -> AsyncIterator[SimulatedHardware]:
    """A started box of 16 compartments on two simulated MCP23017s (debounce 30 ms)."""
    sim = SimulatedHardware(mcp_config(chips=2, per_chip=8))
    await sim.start()
    yield sim
    await sim.close()


async def next_change(sim: SimulatedHardware, within_s: float = 2.0) -> DoorChange:
    signal = await asyncio.wait_for(anext(sim.hardware.signals()), within_s)
    assert isinstance(signal, DoorChange), signal
    return signal


async def test_hw_mcp_outputs_are_off_after_start_and_a_pulse_lasts_its_pulse_ms(
    mcp_box: SimulatedHardware,
) -> None:
    for board_id in ("mcp0", "mcp1"):
        chip = mcp_box.chip(board_id)
        assert [chip.is_output(f"A{n}") for n in range(8)] == [True] * 8
        assert [chip.is_output(f"B{n}") for n in range(8)] == [False] * 8
        assert not any(chip.pin(f"A{n}").state for n in range(8))
    coil = mcp_box.chip("mcp1").pin("A2")  # compartment 11
    await mcp_box.hardware.pulse(11)
    assert coil.on_durations() == [pytest.approx(0.06, abs=TIMING_TOLERANCE_S)]
    assert mcp_box.box.pulse_count(11) == 1
    assert [mcp_box.box.pulse_count(n) for n in range(1, 17) if n != 11] == [0] * 15


async def test_hw_mcp_a_person_opening_and_shutting_is_reported_debounced(mcp_box: SimulatedHardware) -> None:
    mcp_box.box.auto_person(open_after_s=0.02, shut_after_s=0.1, compartments=[3])
    await mcp_box.hardware.pulse(3)
    opened = await next_change(mcp_box)
    assert (opened.compartment, opened.state) == (3, DoorState.OPEN)
    assert mcp_box.hardware.door_is_open(3)
    shut = await next_change(mcp_box)
    assert (shut.compartment, shut.state) == (3, DoorState.CLOSED)


async def test_hw_mcp_a_glitch_shorter_than_the_debounce_is_not_reported(mcp_box: SimulatedHardware) -> None:
    factory = mcp_box.hardware.boards["mcp0"].pin_factory  # type: ignore[attr-defined]
    assert isinstance(factory, Mcp23017Factory)
    seen = factory.input_changes
    mcp_box.box.glitch(5, duration_s=0.01)
    await until(lambda: factory.input_changes >= seen + 2)  # the poller saw it come and go
    with pytest.raises(TimeoutError):
        await next_change(mcp_box, within_s=0.1)
    assert not mcp_box.hardware.door_is_open(5)
    mcp_box.box.force_open(5)  # a real change still gets through
    forced = await next_change(mcp_box)
    assert (forced.compartment, forced.state) == (5, DoorState.OPEN)


async def test_hw_mcp_a_jammed_latch_never_reports_open(mcp_box: SimulatedHardware) -> None:
    mcp_box.box.jam(7)
    mcp_box.box.auto_person(open_after_s=0.01, shut_after_s=0.05, compartments=[7])
    await mcp_box.hardware.pulse(7)
    assert mcp_box.box.pulse_count(7) == 1
    with pytest.raises(TimeoutError):
        await next_change(mcp_box, within_s=0.2)
    assert not mcp_box.hardware.door_is_open(7)


async def test_hw_mcp_bus_errors_add_up_in_the_box_and_doors_still_work(mcp_box: SimulatedHardware) -> None:
    mcp_box.i2c_buses[1].fail_next(4)
    await until(lambda: mcp_box.hardware.bus_errors >= 4)
    mcp_box.box.force_open(16)
    forced = await next_change(mcp_box)
    assert (forced.compartment, forced.state) == (16, DoorState.OPEN)


async def test_hw_mcp_pulses_are_clamped_and_cut_by_the_watchdog_when_the_loop_stalls() -> None:
    bus = SimulatedI2CBus(1)
    chip = bus.add_chip(SimulatedMcp23017(0x20))
    factory = Mcp23017Factory(bus, 0x20, poll_interval_s=0.005)
    signals: list[ChannelSignal] = []
    board = GpioLockBoard(
        "mcp", {1: ("A0", "B0")}, pin_factory=factory, max_pulse_s=0.1, on_signal=signals.append
    )
    chip.pin("B0").drive(False)  # door shut: the reed switch pulls the input to ground
    try:
        await board.start()
        coil = chip.pin("A0")
        await board.pulse(1, 60.0)  # clamped to 0.1 s
        assert coil.on_durations() == [pytest.approx(0.1, abs=TIMING_TOLERANCE_S)]
        # A blocked event loop cannot switch the coil off; the watchdog thread does, over I²C.
        pulse = asyncio.create_task(board.pulse(1, 0.05))
        await until(lambda: coil.state)
        time.sleep(0.3)  # noqa: ASYNC251  # the stall under test
        assert not coil.state
        await pulse
        assert coil.on_durations()[-1] == pytest.approx(0.05, abs=TIMING_TOLERANCE_S)
        assert signals == []
        chip.pin("B0").drive(True)  # door opens (pull-up, reed switch open)
        await until(lambda: board.door_is_open(1))
        assert [(s.channel, s.state) for s in signals if isinstance(s, ChannelChange)] == [
            (1, DoorState.OPEN)
        ]
    finally:
        board.close_now()
        factory.close()


async def test_hw_mcp_active_low_coils_stay_off_through_start_and_close() -> None:
    sim = SimulatedHardware(mcp_config(chips=1, per_chip=4, lock_active_high=False))
    coils = [sim.chip("mcp0").pin(f"A{n}") for n in range(4)]
    await sim.start()
    assert all(coil.state for coil in coils)  # high = off for active-low relay inputs
    await sim.hardware.pulse(2)
    assert coils[1].on_durations(on_level=False) == [pytest.approx(0.06, abs=TIMING_TOLERANCE_S)]
    await sim.close()
    assert all(coil.state for coil in coils)
    assert all(level for coil in coils for _at, level in coil.history if coil is not coils[1])
