"""A box on Kerong controllers through `BoxHardware`: compartments, channels and door physics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from docbox_edge.hardware.errors import UnknownCompartment
from docbox_edge.hardware.lockboard import DoorChange, DoorState
from docbox_edge.hardware.simulation import SimulatedHardware
from tests.edge.hardware.bus_boards_support import kerong_config


@pytest.fixture
async def kerong_box() -> AsyncIterator[SimulatedHardware]:
    """Compartments 1-4 on CU48 board 1 and 5-8 on board 2 of one simulated line."""
    sim = SimulatedHardware(kerong_config(boards=2, per_board=4), unlock_time_s=0.05)
    await sim.start()
    yield sim
    await sim.close()


async def next_change(sim: SimulatedHardware, within_s: float = 2.0) -> DoorChange:
    signal = await asyncio.wait_for(anext(sim.hardware.signals()), within_s)
    assert isinstance(signal, DoorChange), signal
    return signal


async def test_hw_kerong_compartments_map_to_board_and_channel(kerong_box: SimulatedHardware) -> None:
    await kerong_box.hardware.pulse(6)  # board 2, channel 2
    assert kerong_box.controller("kr2").unlock_count(2) == 1
    assert kerong_box.controller("kr1").unlock_count(2) == 0
    with pytest.raises(UnknownCompartment):
        await kerong_box.hardware.pulse(9)


async def test_hw_kerong_a_visit_is_reported_open_then_closed(kerong_box: SimulatedHardware) -> None:
    kerong_box.box.auto_person(open_after_s=0.02, shut_after_s=0.15, compartments=[3])
    await kerong_box.hardware.pulse(3)
    opened = await next_change(kerong_box)
    assert (opened.compartment, opened.state) == (3, DoorState.OPEN)
    shut = await next_change(kerong_box)
    assert (shut.compartment, shut.state) == (3, DoorState.CLOSED)
    assert kerong_box.box.is_latched(3)


async def test_hw_kerong_jammed_and_forced_doors_show_in_the_feedback(kerong_box: SimulatedHardware) -> None:
    kerong_box.box.jam(1)
    kerong_box.box.auto_person(open_after_s=0.01, shut_after_s=None, compartments=[1])
    await kerong_box.hardware.pulse(1)
    kerong_box.box.force_open(8)  # the only door that moves
    forced = await next_change(kerong_box)
    assert (forced.compartment, forced.state) == (8, DoorState.OPEN)
    assert not kerong_box.hardware.door_is_open(1)
    assert kerong_box.controller("kr1").unlock_count(1) == 1
