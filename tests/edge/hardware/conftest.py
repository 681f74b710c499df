"""Fixtures for the hardware tests: mock pin factories and started simulated boxes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import pytest

from docbox_edge.boxconfig import BoxConfig
from docbox_edge.hardware.box import build_hardware
from docbox_edge.hardware.mockpins import ExtendedMockFactory
from docbox_edge.hardware.simulated import SimulatedBox
from tests.edge.hardware.hw_support import MakeRig, Rig, sim_config


@pytest.fixture
def factory() -> Iterator[ExtendedMockFactory]:
    """A fresh extended mock pin factory, closed after the test."""
    pin_factory = ExtendedMockFactory()
    yield pin_factory
    pin_factory.close()


@pytest.fixture
async def make_rig(factory: ExtendedMockFactory) -> AsyncIterator[MakeRig]:
    """Build and start simulated boxes on the test's factory; all closed after the test."""
    async with AsyncExitStack() as stack:

        async def make(config: BoxConfig) -> Rig:
            sim = SimulatedBox(config, factory)
            stack.callback(sim.close)
            hardware = build_hardware(config, factory)
            stack.push_async_callback(hardware.close)
            await hardware.start()
            return Rig(config=config, factory=factory, hardware=hardware, sim=sim)

        yield make


@pytest.fixture
async def rig(make_rig: MakeRig) -> Rig:
    """A started simulated box of 8 compartments with fast timings."""
    return await make_rig(sim_config())
