"""A simulated I²C bus with MCP23017 chips, so the real `Mcp23017Factory` runs in tests and demos.

`SimulatedI2CBus` implements the smbus2 methods the driver uses (`read_byte_data`,
`write_byte_data`, `close`) and answers for the chips added to it; an address nobody
answers, and injected faults, raise `OSError(EREMOTEIO)` as the Linux I²C driver does for a
missing acknowledge.

`SimulatedMcp23017` keeps the chip's registers (IOCON.BANK = 0 layout) and logs every
write, so tests can check the order in which the driver configures it. Its pins are
`VirtualPin`s: an output shows its latch, an input the level a simulation drives it to, else
the pull-up (high), else `released_level`: what the board's external resistor pulls a
released (high-impedance) pin to. `SimulatedBox` drives the door inputs and watches the
coil outputs through `Mcp23017Locks`.
"""

from __future__ import annotations

import errno
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping

from docbox_edge.boxconfig import MCP23017_PINS, Mcp23017BoardConfig, canonical_mcp_pin
from docbox_edge.hardware.simpins import SimLock, VirtualPin

REGISTER_COUNT = 0x16
IODIRA, IODIRB, IPOLA, IPOLB = 0x00, 0x01, 0x02, 0x03
GPPUA, GPPUB, GPIOA, GPIOB, OLATA, OLATB = 0x0C, 0x0D, 0x12, 0x13, 0x14, 0x15
WRITE_LOG_LIMIT = 10_000


class SimulatedMcp23017:
    """The registers and pins of one MCP23017.

    Args:
        address: 7-bit I²C address (0x20-0x27).
        released_level: Level of a pin that is neither an output, driven, nor pulled up
            (False: the gate pull-downs of the recommended coil wiring).
    """

    def __init__(self, address: int = 0x20, *, released_level: bool = False) -> None:
        if not 0x20 <= address <= 0x27:
            raise ValueError(f"an MCP23017 address is 0x20-0x27, not {address:#x}")
        self.address = address
        self.released_level = released_level
        self._lock = threading.Lock()
        self._registers = bytearray(REGISTER_COUNT)
        self._registers[IODIRA] = self._registers[IODIRB] = 0xFF  # power-on: all inputs
        self.writes: deque[tuple[int, int]] = deque(maxlen=WRITE_LOG_LIMIT)
        """(register, value) of every write, oldest first."""
        self._pins = {
            name: VirtualPin(f"{address:#04x}:{name}", resolve=self._resolver(index))
            for index, name in enumerate(MCP23017_PINS)
        }

    def pin(self, name: str) -> VirtualPin:
        """The pin called "A0"-"B7" ("GPA0" etc. accepted).

        Raises:
            ValueError: No such pin.
        """
        canonical = canonical_mcp_pin(name)
        if canonical is None:
            raise ValueError(f"{name!r} is not an MCP23017 pin (A0-A7, B0-B7)")
        return self._pins[canonical]

    def register(self, register: int) -> int:
        """The current value of a register (inspection)."""
        return self._registers[register]

    def is_output(self, name: str) -> bool:
        """Whether the pin's direction bit makes it an output.

        Raises:
            ValueError: No such pin.
        """
        canonical = canonical_mcp_pin(name)
        if canonical is None:
            raise ValueError(f"{name!r} is not an MCP23017 pin (A0-A7, B0-B7)")
        port, bit = divmod(MCP23017_PINS.index(canonical), 8)
        return not self._registers[IODIRA + port] >> bit & 1

    def read_register(self, register: int) -> int:
        """What the bus master reads from a register."""
        self._check(register)
        with self._lock:
            if register in (GPIOA, GPIOB):
                port = register - GPIOA
                value = 0
                for bit in range(8):
                    if self._pins[MCP23017_PINS[port * 8 + bit]].state:
                        value |= 1 << bit
                # IPOL inverts what inputs read (outputs read back unchanged).
                return value ^ (self._registers[IPOLA + port] & self._registers[IODIRA + port])
            return self._registers[register]

    def write_register(self, register: int, value: int) -> None:
        """A write from the bus master (GPIO writes go to the output latch, as on the chip)."""
        self._check(register)
        if not 0 <= value <= 0xFF:
            raise ValueError(f"register value {value!r} is not a byte")
        with self._lock:
            self.writes.append((register, value))
            target = OLATA + register - GPIOA if register in (GPIOA, GPIOB) else register
            self._registers[target] = value
        for pin in self._pins.values():
            pin.update()

    def _resolver(self, index: int) -> Callable[[VirtualPin], bool]:
        port, bit = divmod(index, 8)

        def resolve(pin: VirtualPin) -> bool:
            registers = self._registers
            if not registers[IODIRA + port] >> bit & 1:
                return bool(registers[OLATA + port] >> bit & 1)
            if pin.external_drive is not None:
                return pin.external_drive
            if registers[GPPUA + port] >> bit & 1:
                return True
            return self.released_level

        return resolve

    @staticmethod
    def _check(register: int) -> None:
        if not 0 <= register < REGISTER_COUNT:
            raise OSError(errno.EREMOTEIO, f"MCP23017 has no register {register:#04x}")


class SimulatedI2CBus:
    """An I²C bus (`smbus2.SMBus` stand-in) with simulated chips on it.

    Args:
        bus: Bus number, for messages.
    """

    def __init__(self, bus: int = 1) -> None:
        self.bus = bus
        self._chips: dict[int, SimulatedMcp23017] = {}
        self._lock = threading.Lock()
        self._failures = 0
        self._closed = False
        self.transfers = 0
        """Successful reads and writes."""

    def add_chip(self, chip: SimulatedMcp23017) -> SimulatedMcp23017:
        """Put a chip on the bus; returns it.

        Raises:
            ValueError: Another chip has that address.
        """
        if chip.address in self._chips:
            raise ValueError(f"bus {self.bus}: address {chip.address:#04x} is taken")
        self._chips[chip.address] = chip
        return chip

    def chip(self, address: int) -> SimulatedMcp23017:
        """The chip at `address` (KeyError if none)."""
        return self._chips[address]

    def fail_next(self, count: int = 1) -> None:
        """Let the next `count` transfers fail as if nobody acknowledged."""
        with self._lock:
            self._failures += count

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        """Read one register of the chip at `i2c_addr`."""
        return self._chip_for(i2c_addr).read_register(register)

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        """Write one register of the chip at `i2c_addr`."""
        self._chip_for(i2c_addr).write_register(register, value)

    def close(self) -> None:
        """Close the bus; later transfers fail with EBADF."""
        self._closed = True

    def _chip_for(self, address: int) -> SimulatedMcp23017:
        with self._lock:
            if self._closed:
                raise OSError(errno.EBADF, os.strerror(errno.EBADF))
            if self._failures:
                self._failures -= 1
                raise OSError(errno.EREMOTEIO, f"{os.strerror(errno.EREMOTEIO)} (injected)")
            chip = self._chips.get(address)
            if chip is None:
                raise OSError(errno.EREMOTEIO, f"{os.strerror(errno.EREMOTEIO)} (no chip at {address:#04x})")
            self.transfers += 1
            return chip


class Mcp23017Locks:
    """The locks of one simulated MCP23017 board, for `SimulatedBox` (by channel).

    Args:
        chip: The simulated chip.
        board: The board's configuration (wiring levels).
        pins: Channel -> (lock pin, door pin), as configured.
    """

    def __init__(
        self, chip: SimulatedMcp23017, board: Mcp23017BoardConfig, pins: Mapping[int, tuple[str, str]]
    ) -> None:
        self.chip = chip
        self.board = board
        self._pins = dict(pins)

    def lock(self, channel: int) -> SimLock:
        """The coil and door sensor pins of one channel."""
        lock_pin, door_pin = self._pins[channel]
        return SimLock(
            coil=self.chip.pin(lock_pin),
            sensor=self.chip.pin(door_pin),
            coil_on_level=self.board.lock_active_high,
            # With the pull-up, "active" is low: a door open when active reads low when open.
            sensor_open_level=not self.board.door_open_when_active,
        )
