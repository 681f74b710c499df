"""The agent's telemetry sample: lock-board bus errors come from the hardware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from docbox_edge.agent import EdgeAgent, EdgeSettings
from docbox_edge.hardware.simulation import SimulatedHardware
from tests.edge.conftest import Keys
from tests.edge.hardware.bus_boards_support import mcp_config
from tests.edge.hardware.hw_support import until


@pytest.fixture
async def mcp_box() -> AsyncIterator[SimulatedHardware]:
    """A started box on two simulated MCP23017s, whose I²C bus can be made to fail."""
    sim = SimulatedHardware(mcp_config(chips=2, per_chip=8))
    await sim.start()
    yield sim
    await sim.close()


async def test_telemetry_reports_the_boards_bus_errors(
    mcp_box: SimulatedHardware, keys: Keys, data_dir: Path
) -> None:
    settings = EdgeSettings(
        box=mcp_box.config, data_dir=data_dir, public_keys=(keys.trusted_pem,), kiosk_enabled=False
    )
    agent = EdgeAgent(settings, mcp_box.hardware)
    try:
        assert agent.telemetry().bus_errors == 0
        mcp_box.i2c_buses[1].fail_next(3)
        await until(lambda: mcp_box.hardware.bus_errors >= 3)
        sample = agent.telemetry()
        assert sample.bus_errors >= 3
        assert sample.bus_errors == mcp_box.hardware.bus_errors
    finally:
        agent.close()
