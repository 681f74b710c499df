"""The extended mock pin factory: 2,048 extra pins, bounded history, simulation hooks."""

from __future__ import annotations

import time

import pytest
from gpiozero import DigitalInputDevice, OutputDevice, PinInvalidPin

from docbox_edge.hardware.mockpins import (
    FIRST_EXTRA_GPIO,
    ExtendedMockFactory,
    IndexedBoardInfo,
    SimulatedPin,
)


def test_the_synthetic_header_continues_the_gpio_numbering(factory: ExtendedMockFactory) -> None:
    names = factory.extra_pin_names
    assert len(names) == 2048
    assert names[0] == f"GPIO{FIRST_EXTRA_GPIO}" == "GPIO28"
    assert names[-1] == "GPIO2075"
    pin = factory.pin("GPIO28")
    assert factory.pin(28) is pin
    assert factory.pin("BCM28") is pin
    assert factory.pin("SIM:1") is pin
    assert isinstance(pin, SimulatedPin)


def test_the_pi_header_pins_are_still_there(factory: ExtendedMockFactory) -> None:
    assert factory.pin("GPIO17") is factory.pin("BOARD11")


def test_unknown_pins_are_refused(factory: ExtendedMockFactory) -> None:
    with pytest.raises(PinInvalidPin):
        factory.pin("GPIO2076")
    with pytest.raises(PinInvalidPin):
        factory.pin("SIM0")  # header positions count from 1, like J8:1


def test_the_header_size_is_configurable() -> None:
    small = ExtendedMockFactory(extra_pins=4)
    try:
        assert small.extra_pin_names == ["GPIO28", "GPIO29", "GPIO30", "GPIO31"]
        with pytest.raises(PinInvalidPin):
            small.pin("GPIO32")
    finally:
        small.close()


def test_pin_lookup_uses_an_index(factory: ExtendedMockFactory) -> None:
    info = factory.board_info
    assert isinstance(info, IndexedBoardInfo)
    [(header, pin)] = list(info.find_pin("GPIO2075"))
    assert header.name == "SIM"
    assert pin.number == 2048


def test_a_thousand_outputs_and_inputs_can_be_built_and_driven(factory: ExtendedMockFactory) -> None:
    started = time.perf_counter()
    outputs = [
        OutputDevice(FIRST_EXTRA_GPIO + 2 * i, initial_value=False, pin_factory=factory) for i in range(1000)
    ]
    inputs = [
        DigitalInputDevice(FIRST_EXTRA_GPIO + 2 * i + 1, pull_up=True, pin_factory=factory)
        for i in range(1000)
    ]
    elapsed = time.perf_counter() - started
    try:
        assert elapsed < 2.0  # about 0.1 s here; a linear pin scan made it ~1 s
        for device in outputs[::100]:
            device.on()
        assert [d.pin.state for d in outputs[:101:100]] == [True, True]
        assert sum(d.is_active for d in outputs) == 10
        door = factory.pin(FIRST_EXTRA_GPIO + 2 * 999 + 1)
        assert isinstance(door, SimulatedPin)
        door.drive(False)  # switch to ground
        assert inputs[999].is_active is True
        assert sum(d.is_active for d in inputs) == 1
    finally:
        for device in [*outputs, *inputs]:
            device.close()


def test_an_external_drive_beats_the_pull_resistor(factory: ExtendedMockFactory) -> None:
    pin = factory.pin("GPIO100")
    assert isinstance(pin, SimulatedPin)
    pin.drive(False)  # before any device configured the pull
    sensor = DigitalInputDevice("GPIO100", pull_up=True, pin_factory=factory)
    try:
        assert pin.state is False
        assert sensor.is_active is True
        pin.drive(None)  # disconnected: the pull-up decides again
        assert pin.state is True
        assert sensor.is_active is False
    finally:
        sensor.close()


def test_observers_see_every_change(factory: ExtendedMockFactory) -> None:
    pin = factory.pin("GPIO50")
    assert isinstance(pin, SimulatedPin)
    seen: list[bool] = []

    def observer(_pin: SimulatedPin, state: bool) -> None:
        seen.append(state)

    pin.add_observer(observer)
    device = OutputDevice("GPIO50", initial_value=False, pin_factory=factory)
    try:
        device.on()
        device.on()  # no change, no call
        device.off()
        pin.remove_observer(observer)
        device.on()
        assert seen == [True, False]
    finally:
        device.close()


def test_the_state_history_is_bounded_and_can_be_cleared() -> None:
    factory = ExtendedMockFactory(state_history_limit=50)
    device = OutputDevice("GPIO60", initial_value=False, pin_factory=factory)
    try:
        for _ in range(500):
            device.toggle()
        pin = factory.pin("GPIO60")
        assert len(pin.states) == 50
        factory.clear_states()
        assert [s.state for s in pin.states] == [pin.state]
    finally:
        device.close()
        factory.close()


def test_an_unbounded_history_keeps_everything() -> None:
    factory = ExtendedMockFactory(state_history_limit=None)
    device = OutputDevice("GPIO60", initial_value=False, pin_factory=factory)
    try:
        factory.pin("GPIO60").clear_states()
        for _ in range(20):
            device.toggle()
        assert len(factory.pin("GPIO60").states) == 21
    finally:
        device.close()
        factory.close()
