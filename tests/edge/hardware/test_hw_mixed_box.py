"""The 600-compartment example box over CU48 controllers, MCP23017 expanders and GPIO, simulated."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from docbox_edge.boxconfig import load_box_config
from docbox_edge.hardware.gpio import GpioLockBoard
from docbox_edge.hardware.kerong import KerongLockBoard
from docbox_edge.hardware.lockboard import DoorChange, DoorState
from docbox_edge.hardware.simulation import SimulatedHardware

EXAMPLE = Path(__file__).resolve().parents[3] / "edge" / "examples" / "box-600-mixed.toml"


async def test_hw_mixed_600_box_builds_starts_pulses_every_kind_and_closes_quickly() -> None:
    config = load_box_config(EXAMPLE)
    started = time.monotonic()
    sim = SimulatedHardware(config)
    try:
        await sim.start()
        hardware = sim.hardware
        assert len(hardware.compartments) == 600
        assert len(hardware.boards) == 15
        kerong = [b for b in hardware.boards.values() if isinstance(b, KerongLockBoard)]
        assert len(kerong) == 12
        assert len({b.bus for b in kerong}) == 1  # one RS-485 line for all twelve
        assert all(isinstance(hardware.boards[i], GpioLockBoard) for i in ("mcp-20", "mcp-21", "header"))
        assert not any(hardware.door_is_open(n) for n in hardware.compartments)

        # One lock on each kind of board (and on the first and last controller on the line).
        chosen = {1: "cu48-01", 576: "cu48-12", 580: "mcp-20", 600: "header"}
        assert {n: config.compartment(n).board for n in chosen} == chosen
        sim.box.auto_person(open_after_s=0.05, shut_after_s=0.3, compartments=chosen)
        await asyncio.gather(*(hardware.pulse(n) for n in chosen))
        assert [sim.box.pulse_count(n) for n in chosen] == [1, 1, 1, 1]
        assert sum(sim.box.pulse_count(n) for n in hardware.compartments) == 4
        assert sim.controller("cu48-12").unlock_count(48) == 1

        seen: dict[int, list[DoorState]] = {n: [] for n in chosen}
        signals = hardware.signals()
        async with asyncio.timeout(3.0):
            while any(len(states) < 2 for states in seen.values()):
                signal = await anext(signals)
                assert isinstance(signal, DoorChange), signal
                seen[signal.compartment].append(signal.state)
        assert all(states == [DoorState.OPEN, DoorState.CLOSED] for states in seen.values())
        assert hardware.bus_errors == 0
    finally:
        await sim.close()
    elapsed = time.monotonic() - started
    assert elapsed < 5.0, f"the 600-compartment box took {elapsed:.1f} s"
    # Closed means closed: the line is no longer polled, the expanders released their pins.
    assert not kerong[0].bus.polling
    assert sim.chip("mcp-20").register(0x00) == 0xFF
