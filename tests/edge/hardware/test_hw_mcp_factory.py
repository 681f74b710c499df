"""The MCP23017 pin factory (real driver) against a simulated I²C bus: registers, order, pins."""

from __future__ import annotations

import errno
import queue
import time
from collections.abc import Callable, Iterator

import pytest
from gpiozero import DigitalInputDevice, GPIOPinInUse, OutputDevice, PinInvalidPin, PinInvalidPull

from docbox_edge.hardware.errors import BusError
from docbox_edge.hardware.i2c_sim import SimulatedI2CBus, SimulatedMcp23017
from docbox_edge.hardware.mcp23017 import (
    GPINTENA,
    GPINTENB,
    GPPUA,
    GPPUB,
    IODIRA,
    IODIRB,
    IPOLA,
    IPOLB,
    OLATA,
    OLATB,
    Mcp23017Factory,
)


@pytest.fixture
def bus() -> SimulatedI2CBus:
    """A simulated I²C bus 1 with one MCP23017 at 0x20."""
    i2c = SimulatedI2CBus(1)
    i2c.add_chip(SimulatedMcp23017(0x20))
    return i2c


@pytest.fixture
def chip(bus: SimulatedI2CBus) -> SimulatedMcp23017:
    return bus.chip(0x20)


@pytest.fixture
def factory(bus: SimulatedI2CBus) -> Iterator[Mcp23017Factory]:
    mcp = Mcp23017Factory(bus, 0x20, poll_interval_s=0.002)
    yield mcp
    mcp.close()


def test_hw_mcp_opening_puts_the_chip_into_its_safe_state_first(chip: SimulatedMcp23017) -> None:
    # A chip that kept driving two coils from a run that crashed.
    chip.write_register(OLATA, 0b0000_0011)
    chip.write_register(IODIRA, 0b1111_1100)
    chip.write_register(IPOLA, 0xFF)
    assert chip.pin("A0").state
    chip.writes.clear()
    bus = SimulatedI2CBus(1)
    bus.add_chip(chip)
    factory = Mcp23017Factory(bus, 0x20)
    # Directions first (stop driving), then the latches, pulls, polarity and interrupts.
    assert list(chip.writes)[:4] == [(IODIRA, 0xFF), (IODIRB, 0xFF), (OLATA, 0x00), (OLATB, 0x00)]
    assert set(chip.writes) == {
        (register, 0xFF if register in (IODIRA, IODIRB) else 0x00)
        for register in (IODIRA, IODIRB, OLATA, OLATB, GPPUA, GPPUB, IPOLA, IPOLB, GPINTENA, GPINTENB)
    }
    assert not chip.pin("A0").state
    assert [level for _at, level in chip.pin("A0").history][-1] is False
    factory.close()


@pytest.mark.parametrize("active_high", [True, False])
def test_hw_mcp_an_output_gets_its_off_level_before_it_becomes_an_output(
    factory: Mcp23017Factory, chip: SimulatedMcp23017, active_high: bool
) -> None:
    off_level = not active_high
    chip.writes.clear()
    coil = chip.pin("A3")
    history_before = len(coil.history)
    device = OutputDevice("A3", active_high=active_high, initial_value=False, pin_factory=factory)
    writes = list(chip.writes)
    direction = next(i for i, (reg, value) in enumerate(writes) if reg == IODIRA and not value >> 3 & 1)
    latches = [value for reg, value in writes[:direction] if reg == OLATA]
    assert latches, f"no OLATA write before IODIRA made A3 an output: {writes}"
    assert bool(latches[-1] >> 3 & 1) is off_level
    assert chip.is_output("A3")
    # The pin never showed the energised level on its way to being an output.
    assert all(level is off_level for _at, level in list(coil.history)[history_before:])
    device.on()
    assert coil.state is active_high
    device.off()
    assert coil.state is off_level
    device.close()
    assert not chip.is_output("A3")  # released: high impedance again


def test_hw_mcp_inputs_get_pull_ups_and_edges_reach_gpiozero(
    factory: Mcp23017Factory, chip: SimulatedMcp23017
) -> None:
    sensor = DigitalInputDevice("B2", pull_up=True, pin_factory=factory)
    assert chip.register(GPPUB) == 0b0000_0100
    assert not sensor.is_active  # pulled up, nothing connected: high = inactive
    seen: queue.Queue[bool] = queue.Queue()  # filled by the poller thread
    sensor.when_activated = lambda: seen.put(True)
    sensor.when_deactivated = lambda: seen.put(False)
    chip.pin("B2").drive(False)  # the reed switch closes to ground
    assert seen.get(timeout=2) is True
    chip.pin("B2").drive(True)
    assert seen.get(timeout=2) is False
    assert factory.input_changes == 2
    sensor.close()


def test_hw_mcp_pins_have_one_name_each_and_refuse_what_the_chip_cannot_do(
    factory: Mcp23017Factory,
) -> None:
    assert factory.pin("gpa0") is factory.pin("A0")
    assert factory.pin("B7") is factory.pin("GPB7")
    with pytest.raises(PinInvalidPin, match="'C0' is not an MCP23017 pin"):
        factory.pin("C0")
    with pytest.raises(PinInvalidPin):
        OutputDevice("GPIO17", pin_factory=factory)
    with pytest.raises(PinInvalidPull, match="pull-ups only"):
        DigitalInputDevice("A1", pull_up=False, pin_factory=factory)
    first = OutputDevice("A2", pin_factory=factory)
    with pytest.raises(GPIOPinInUse):
        OutputDevice("gpa2", pin_factory=factory)
    first.close()


def test_hw_mcp_a_missing_chip_is_a_bus_error_with_its_address(bus: SimulatedI2CBus) -> None:
    with pytest.raises(
        BusError, match=r"mcp23017@0x21: write 0xff to register 0x00 failed: .*no chip at 0x21"
    ):
        Mcp23017Factory(bus, 0x21)
    with pytest.raises(ValueError, match="0x20-0x27, not 0x28"):
        Mcp23017Factory(bus, 0x28)


def test_hw_mcp_a_coil_write_survives_a_glitch_on_the_bus(
    factory: Mcp23017Factory, chip: SimulatedMcp23017, bus: SimulatedI2CBus, caplog: pytest.LogCaptureFixture
) -> None:
    coil = OutputDevice("A0", pin_factory=factory, initial_value=False)
    coil.on()
    bus.fail_next(1)
    coil.off()  # retried: one lost acknowledge must not leave a coil energised
    assert not chip.pin("A0").state
    assert factory.bus_errors == 1
    assert "write 0x00 to register 0x14 failed" in caplog.text
    bus.fail_next(3)
    with pytest.raises(BusError):
        coil.on()
    assert factory.bus_errors == 4
    coil.close()


def test_hw_mcp_polling_survives_bus_errors(
    factory: Mcp23017Factory, chip: SimulatedMcp23017, bus: SimulatedI2CBus, caplog: pytest.LogCaptureFixture
) -> None:
    sensor = DigitalInputDevice("B0", pull_up=True, pin_factory=factory)
    seen: queue.Queue[bool] = queue.Queue()
    sensor.when_activated = lambda: seen.put(True)
    bus.fail_next(6)
    until_sync(lambda: factory.bus_errors >= 6)
    chip.pin("B0").drive(False)
    assert seen.get(timeout=2) is True
    warnings = [r.getMessage() for r in caplog.records if "mcp23017@0x20" in r.getMessage()]
    assert len([w for w in warnings if "read of register 0x13 failed" in w]) == 3
    assert any("I²C errors in a row; further ones are counted" in w for w in warnings)
    sensor.close()


def test_hw_mcp_closing_releases_every_pin(factory: Mcp23017Factory, chip: SimulatedMcp23017) -> None:
    coil = OutputDevice("A5", pin_factory=factory, initial_value=True)
    assert chip.pin("A5").state
    factory.close()
    assert chip.register(IODIRA) == chip.register(IODIRB) == 0xFF
    assert not chip.pin("A5").state  # the gate pull-down switches the coil off
    factory.close()  # idempotent
    coil.close()  # after the factory: nothing left to release, and no error


def test_hw_mcp_the_simulated_bus_fails_like_linux_does(bus: SimulatedI2CBus) -> None:
    with pytest.raises(OSError) as caught:
        bus.read_byte_data(0x27, 0x00)
    assert caught.value.errno == errno.EREMOTEIO
    bus.close()
    with pytest.raises(OSError) as closed:
        bus.read_byte_data(0x20, 0x00)
    assert closed.value.errno == errno.EBADF


def until_sync(predicate: Callable[[], bool], within_s: float = 2.0) -> None:
    """Wait (in a plain test, no loop) until the poller thread made `predicate()` true."""
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {within_s} s")
        time.sleep(0.001)
