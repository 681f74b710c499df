"""Box configuration: loading, validation errors, TOML round trip, simulated layouts, build."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from docbox_edge.boxconfig import (
    BoxConfig,
    canonical_pin,
    generate_simulated_config,
    load_box_config,
    simulated_config_toml,
)
from docbox_edge.hardware.box import build_hardware
from docbox_edge.hardware.errors import (
    ConfigError,
    HardwareError,
    PinFactoryUnavailable,
    UnknownCompartment,
)
from docbox_edge.hardware.gpio import GpioLockBoard
from docbox_edge.hardware.mockpins import ExtendedMockFactory

EXAMPLES = Path(__file__).resolve().parents[3] / "edge" / "examples"


def valid() -> dict[str, Any]:
    """A small valid configuration as parsed TOML data, for tests to break."""
    return {
        "box_id": "box-1",
        "boards": [{"kind": "gpio", "id": "main"}],
        "compartments": [
            {"number": 1, "board": "main", "lock_pin": 4, "door_pin": 17, "size": "S", "height_cm": 80},
            {
                "number": 2,
                "board": "main",
                "lock_pin": "GPIO5",
                "door_pin": "GPIO6",
                "size": "L",
                "height_cm": 10,
                "pulse_ms": 500,
            },
        ],
    }


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        BoxConfig.from_mapping(data, source="box.toml")
    return str(caught.value)


# -- examples -------------------------------------------------------------------------


async def test_the_small_example_loads_and_builds_on_a_plain_pi_header() -> None:
    config = load_box_config(EXAMPLES / "box-small.toml")
    assert config.box_id == "small-box-1"
    assert len(config.compartments) == 6
    assert config.pulse_ms(5) == 450
    assert config.pulse_ms(1) == 300
    # gpiozero's own MockFactory has GPIO0-27 only: the example fits a real Pi.
    factory = MockFactory()
    hardware = build_hardware(config, factory)
    await hardware.start()
    assert [hardware.door_is_open(n) for n in hardware.compartments] == [True] * 6  # nothing wired
    await hardware.close()
    factory.close()


def test_the_500_example_is_the_generated_layout() -> None:
    path = EXAMPLES / "box-500.toml"
    expected = simulated_config_toml("box-500", 500)
    assert path.read_text(encoding="utf-8") == expected, (
        "edge/examples/box-500.toml is stale; regenerate it with "
        "`uv run python -m docbox_edge.boxconfig box-500 --count 500 > edge/examples/box-500.toml`"
    )
    config = load_box_config(path)
    assert config == generate_simulated_config("box-500", 500)
    assert len(config.compartments) == 500


def test_a_configuration_survives_a_toml_round_trip() -> None:
    config = BoxConfig.from_mapping(valid())
    assert BoxConfig.from_toml(config.to_toml(header="a\nb")) == config
    generated = generate_simulated_config("round-trip", 37, columns=4)
    assert BoxConfig.from_toml(generated.to_toml()) == generated


# -- validation -----------------------------------------------------------------------


def test_duplicate_compartment_numbers_are_refused() -> None:
    data = valid()
    data["compartments"][1]["number"] = 1
    assert "compartment 1 is defined 2 times" in problems(data)


def test_a_pin_used_twice_on_one_header_is_refused_whatever_its_spelling() -> None:
    data = valid()
    data["compartments"][1]["door_pin"] = "bcm4"  # the lock pin of compartment 1
    message = problems(data)
    assert "pin GPIO4 is used more than once" in message
    assert "compartment 1 lock_pin" in message
    assert "compartment 2 door_pin" in message


def test_boards_on_different_factories_may_reuse_pin_numbers() -> None:
    data = valid()
    data["boards"].append({"kind": "gpio", "id": "other", "pin_factory": "simulated"})
    data["compartments"][1].update(board="other", lock_pin=4, door_pin=17)
    config = BoxConfig.from_mapping(data)
    assert [c.board for c in config.compartments] == ["main", "other"]


def test_an_unknown_board_is_refused() -> None:
    data = valid()
    data["compartments"][1]["board"] = "mian"
    assert "compartment 2: board 'mian' is not defined ('main')" in problems(data)


def test_duplicate_board_ids_and_channels_are_refused() -> None:
    data = valid()
    data["boards"].append({"kind": "gpio", "id": "main"})
    data["compartments"][1]["channel"] = 1  # compartment 1 has channel 1 by default
    message = problems(data)
    assert "board id 'main' is defined 2 times" in message
    assert "board 'main' channel 1 is used by compartments 1, 2" in message


def test_gpio_compartments_need_both_pins() -> None:
    data = valid()
    del data["compartments"][0]["door_pin"]
    assert "compartment 1: board 'main' is a gpio board, so lock_pin and door_pin are required" in (
        problems(data)
    )


def test_pulses_longer_than_the_hard_cap_are_refused_and_located() -> None:
    data = valid()
    data["compartments"][1]["pulse_ms"] = 2001
    message = problems(data)
    assert "box.toml: invalid box configuration" in message
    assert "compartments[1] (number 2).pulse_ms: Input should be less than or equal to 2000" in message
    data = valid()
    data["defaults"] = {"pulse_ms": 5000}
    assert "defaults.pulse_ms" in problems(data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"box_id": "Box_1"}, "box_id: String should match pattern"),
        (
            {"boards": [{"kind": "relay", "id": "main"}]},
            "does not match any of the expected tags: 'gpio', 'mcp23017', 'kerong'",
        ),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"compartments": []}, "compartments: Tuple should have at least 1 item"),
    ],
)
def test_other_mistakes_are_named(change: dict[str, Any], expected: str) -> None:
    data = valid()
    data.update(change)
    assert expected in problems(data)


def test_a_misspelt_compartment_key_is_refused() -> None:
    data = valid()
    data["compartments"][0]["hieght_cm"] = data["compartments"][0].pop("height_cm")
    message = problems(data)
    assert "compartments[0] (number 1).hieght_cm: Extra inputs are not permitted" in message
    assert "compartments[0] (number 1).height_cm: Field required" in message


def test_unreadable_and_invalid_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_box_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text('box_id = "x"\n[[boards]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: invalid TOML"):
        load_box_config(broken)
    assert issubclass(ConfigError, HardwareError)


def test_lookups() -> None:
    config = BoxConfig.from_mapping(valid())
    assert config.compartment(2).size == "L"
    assert config.pulse_ms(2) == 500
    assert config.pulse_ms(1) == config.defaults.pulse_ms == 300
    assert config.compartment(1).board_channel == 1
    with pytest.raises(UnknownCompartment):
        config.compartment(3)
    assert [c.number for c in config.compartments_on("main")] == [1, 2]


@pytest.mark.parametrize(
    ("pin", "canonical"),
    [(17, "GPIO17"), ("17", "GPIO17"), ("gpio17", "GPIO17"), ("BCM017", "GPIO17"), ("board11", "BOARD11")],
)
def test_pin_spellings(pin: int | str, canonical: str) -> None:
    assert canonical_pin(pin) == canonical


# -- simulated layouts ----------------------------------------------------------------


def test_the_simulated_layout_is_realistic() -> None:
    config = generate_simulated_config("sim-box", 500)
    numbers = [c.number for c in config.compartments]
    assert numbers == list(range(1, 501))
    pins = [p for c in config.compartments for p in (c.lock_pin, c.door_pin)]
    assert len(set(pins)) == 1000
    sizes = Counter(c.size for c in config.compartments)
    assert sizes == {"S": 333, "M": 125, "L": 42}
    assert all(0 < c.height_cm < 200 for c in config.compartments)
    accessible = [c for c in config.compartments if c.accessible]
    assert 150 < len(accessible) < 300  # a good share within wheelchair reach, not all
    assert config.pulse_ms(12) == 400  # the L at the bottom of the first column
    assert config.compartment(12).height_cm == 10
    assert config.compartment(1).height_cm > config.compartment(2).height_cm  # top to bottom


def test_the_simulated_layout_takes_a_column_count() -> None:
    config = generate_simulated_config("sim-box", 10, columns=2)
    first_column = config.compartments[:5]
    assert [c.height_cm for c in first_column] == [98, 86, 64, 42, 10]  # numbered top down
    assert [c.size for c in first_column] == ["M", "S", "M", "M", "L"]
    assert [c.height_cm for c in config.compartments[5:]] == [98, 86, 64, 42, 10]
    with pytest.raises(ValueError, match="columns"):
        generate_simulated_config("sim-box", 10, columns=11)
    with pytest.raises(ValueError, match="add columns"):
        generate_simulated_config("sim-box", 100, columns=1)


# -- building -------------------------------------------------------------------------


def test_a_pin_missing_from_the_header_is_a_config_error() -> None:
    data = valid()
    data["compartments"][1]["lock_pin"] = "GPIO4000"
    config = BoxConfig.from_mapping(data)
    factory = ExtendedMockFactory()
    with pytest.raises(ConfigError, match="GPIO4000"):
        build_hardware(config, factory)
    # The first compartment's pins were released again.
    board = GpioLockBoard("again", {1: (4, 17)}, pin_factory=factory)
    board.close_now()
    factory.close()


def test_aliases_the_configuration_cannot_see_are_caught_when_building() -> None:
    data = valid()
    data["compartments"][1]["lock_pin"] = "BOARD11"  # GPIO17: compartment 1's door pin
    config = BoxConfig.from_mapping(data)
    factory = ExtendedMockFactory()
    with pytest.raises(ConfigError, match="BOARD11"):
        build_hardware(config, factory)
    factory.close()


async def test_a_named_simulated_factory_is_created_and_closed_by_the_hardware() -> None:
    config = generate_simulated_config("sim-box", 4)
    hardware = build_hardware(config)  # pin_factory = "simulated" in the configuration
    board = hardware.boards["sim"]
    assert isinstance(board, GpioLockBoard)
    factory = board.pin_factory
    assert isinstance(factory, ExtendedMockFactory)
    await hardware.start()
    await hardware.pulse(1)
    await hardware.close()
    assert factory.pins == {}  # closed


def test_an_unknown_pin_factory_is_reported() -> None:
    data = valid()
    data["boards"][0]["pin_factory"] = "nosuch"
    with pytest.raises(PinFactoryUnavailable, match="nosuch"):
        build_hardware(BoxConfig.from_mapping(data))
