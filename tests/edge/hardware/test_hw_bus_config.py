"""Box configuration of mcp23017 and kerong boards: wiring rules, the mixed example, building."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from docbox_edge.boxconfig import (
    BoxConfig,
    KerongBoardConfig,
    Mcp23017BoardConfig,
    canonical_mcp_pin,
    load_box_config,
)
from docbox_edge.hardware.box import build_hardware
from docbox_edge.hardware.errors import BusError, ConfigError, HardwareError
from docbox_edge.hardware.i2c_sim import SimulatedI2CBus, SimulatedMcp23017
from docbox_edge.hardware.layouts import generate_mixed_config, mixed_config_toml

EXAMPLES = Path(__file__).resolve().parents[3] / "edge" / "examples"


def mixed() -> dict[str, Any]:
    """A valid box with one board of each bus kind, as parsed TOML data, for tests to break."""
    return {
        "box_id": "box-1",
        "boards": [
            {"kind": "mcp23017", "id": "mcp", "bus": 1, "address": 0x20},
            {"kind": "kerong", "id": "kr", "model": "cu16", "port": "/dev/ttyUSB0", "address": 3},
        ],
        "compartments": [
            {"number": 1, "board": "mcp", "lock_pin": "A0", "door_pin": "B0", "size": "S", "height_cm": 80},
            {
                "number": 2,
                "board": "mcp",
                "lock_pin": "gpa1",
                "door_pin": "GPB1",
                "size": "S",
                "height_cm": 60,
            },
            {"number": 3, "board": "kr", "channel": 16, "size": "M", "height_cm": 40},
        ],
    }


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        BoxConfig.from_mapping(data, source="box.toml")
    return str(caught.value)


def test_hw_mcp_and_kerong_boards_load_with_their_defaults() -> None:
    config = BoxConfig.from_mapping(mixed())
    mcp, kerong = config.boards
    assert isinstance(mcp, Mcp23017BoardConfig)
    assert (mcp.bus, mcp.address, mcp.lock_active_high, mcp.door_pull_up, mcp.poll_interval_ms) == (
        1,
        0x20,
        True,
        True,
        10,
    )
    assert isinstance(kerong, KerongBoardConfig)
    assert (kerong.model, kerong.baudrate, kerong.locks, kerong.poll_interval_ms) == ("cu16", 19200, 16, 150)
    assert config.compartment(3).board_channel == 16


@pytest.mark.parametrize(
    ("pin", "canonical"),
    [("A0", "A0"), ("a7", "A7"), ("GPB3", "B3"), (" gpb0 ", "B0"), ("C1", None), ("A8", None), (3, None)],
)
def test_hw_mcp_pin_spellings(pin: int | str, canonical: str | None) -> None:
    assert canonical_mcp_pin(pin) == canonical


def test_hw_mcp_wiring_mistakes_are_named() -> None:
    data = mixed()
    data["compartments"][1]["lock_pin"] = "a0"  # same pin as compartment 1, other spelling
    data["compartments"][1]["door_pin"] = "C3"
    text = problems(data)
    assert (
        "pin A0 is used more than once: compartment 1 lock_pin (board 'mcp'), compartment 2 lock_pin" in text
    )
    assert "compartment 2 door_pin (board 'mcp'): 'C3' is not an MCP23017 pin (A0-A7, B0-B7)" in text


def test_hw_mcp_two_chips_may_use_the_same_pin_names_but_not_one_address() -> None:
    data = mixed()
    data["boards"].append({"kind": "mcp23017", "id": "mcp2", "bus": 1, "address": 0x21})
    data["compartments"].append(
        {"number": 4, "board": "mcp2", "lock_pin": "A0", "door_pin": "B0", "size": "S", "height_cm": 70}
    )
    BoxConfig.from_mapping(data)
    data["boards"][-1]["address"] = 0x20
    assert "I²C bus 1 address 0x20 is used by boards 'mcp', 'mcp2'" in problems(data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"address": 0x28}, "boards[0].mcp23017.address: Input should be less than or equal to 39"),
        ({"address": 0x1F}, "boards[0].mcp23017.address: Input should be greater than or equal to 32"),
        ({"pull_up": False}, "boards[0].mcp23017.pull_up: Extra inputs are not permitted"),
    ],
)
def test_hw_mcp_board_fields_are_checked(change: dict[str, Any], expected: str) -> None:
    data = mixed()
    data["boards"][0].update(change)
    assert expected in problems(data)


def test_hw_mcp_on_bus_1_takes_the_pi_header_i2c_pins() -> None:
    data = mixed()
    data["boards"].append({"kind": "gpio", "id": "header"})
    data["compartments"].append(
        {"number": 5, "board": "header", "lock_pin": "GPIO2", "door_pin": 17, "size": "S", "height_cm": 70}
    )
    assert (
        "pin GPIO2 is the I²C bus 1 of the MCP23017 boards (SDA/SCL), not free for compartment 5"
        in problems(data)
    )
    data["boards"][0]["bus"] = 3  # another bus: GPIO2 is free again
    BoxConfig.from_mapping(data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"channel": None}, "board 'kr' is a kerong board, so channel (its lock number 1-16) is required"),
        ({"channel": 17}, "board 'kr' is a kerong board: channel 17 is not a lock of a cu16 (1-16)"),
        ({"lock_pin": "GPIO4"}, "(no pins: the controller drives the lock); remove lock_pin/door_pin"),
    ],
)
def test_hw_kerong_compartments_need_a_channel_and_no_pins(change: dict[str, Any], expected: str) -> None:
    data = mixed()
    data["compartments"][2].update(change)
    data["compartments"][2] = {k: v for k, v in data["compartments"][2].items() if v is not None}
    assert expected in problems(data)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"address": 3}, "serial port /dev/ttyUSB0 address 3 is used by boards 'kr', 'kr2'"),
        (
            {"address": 4, "model": "cu48"},
            "boards on serial port /dev/ttyUSB0 must share one model, not cu16, cu48",
        ),
        ({"address": 4, "baudrate": 9600}, "must share one baudrate, not 19200, 9600"),
        ({"address": 16}, "board 'kr2': a cu16 address is 0-15, not 16"),
        ({"address": 32}, "boards[2].kerong.address: Input should be less than or equal to 31"),
        ({"address": 4, "baudrate": 12345}, "boards[2].kerong.baudrate: Input should be 9600, 19200"),
    ],
)
def test_hw_kerong_bus_rules(extra: dict[str, Any], expected: str) -> None:
    data = mixed()
    data["boards"].append({"kind": "kerong", "id": "kr2", "model": "cu16", "port": "/dev/ttyUSB0"} | extra)
    assert expected in problems(data)


def test_hw_kerong_boards_on_other_ports_are_independent() -> None:
    data = mixed()
    data["boards"].append(
        {
            "kind": "kerong",
            "id": "kr2",
            "model": "cu48",
            "port": "/dev/ttyUSB1",
            "address": 3,
            "baudrate": 9600,
        }
    )
    BoxConfig.from_mapping(data)


def test_hw_kerong_mixed_box_example_is_the_generated_layout() -> None:
    path = EXAMPLES / "box-600-mixed.toml"
    assert path.read_text(encoding="utf-8") == mixed_config_toml(), (
        "edge/examples/box-600-mixed.toml is stale: uv run python -m docbox_edge.hardware.layouts > it"
    )
    config = load_box_config(path)
    assert config == generate_mixed_config()
    assert len(config.compartments) == 600
    kinds = [config.board(c.board).kind for c in config.compartments]
    assert (kinds.count("kerong"), kinds.count("mcp23017"), kinds.count("gpio")) == (576, 16, 8)
    assert BoxConfig.from_toml(config.to_toml()) == config
    # Every board kind has wheelchair-reachable doors.
    for kind in ("kerong", "mcp23017", "gpio"):
        assert any(c.accessible for c in config.compartments if config.board(c.board).kind == kind)


def test_hw_kerong_building_without_the_port_is_a_clear_error() -> None:
    data = mixed()
    data["boards"][1]["port"] = "/dev/no-such-rs485-adapter"
    config = BoxConfig.from_mapping(data)
    i2c = SimulatedI2CBus(1)
    chip = i2c.add_chip(SimulatedMcp23017(0x20))
    with pytest.raises(HardwareError, match="cannot open RS-485 port /dev/no-such-rs485-adapter"):
        build_hardware(config, i2c_buses={1: i2c})
    # The expander built before the failure had outputs, and was put back into its safe state.
    assert (0x00, 0b1111_1100) in chip.writes
    assert chip.register(0x00) == chip.register(0x01) == 0xFF


def test_hw_mcp_building_without_the_chip_is_a_bus_error() -> None:
    config = BoxConfig.from_mapping(mixed())
    with pytest.raises(BusError, match=r"mcp \(mcp23017 0x20 on i2c-1\): write 0xff to register 0x00 failed"):
        build_hardware(config, i2c_buses={1: SimulatedI2CBus(1)})


def test_hw_mcp_building_without_the_i2c_device_is_a_clear_error() -> None:
    data = mixed()
    data["boards"][0]["bus"] = 250  # /dev/i2c-250 does not exist here (nor on a Pi)
    with pytest.raises(HardwareError, match=r"cannot open I²C bus 250 \(/dev/i2c-250; is I²C enabled\?\)"):
        build_hardware(BoxConfig.from_mapping(data))
