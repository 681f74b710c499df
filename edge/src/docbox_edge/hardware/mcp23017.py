"""MCP23017 I²C port expanders as a gpiozero pin factory, over smbus2.

One `Mcp23017Factory` is one chip; its 16 pins are named "A0"-"A7" and "B0"-"B7" (port A
and B; "GPA0" etc. work too). `GpioLockBoard` runs on it unchanged, so coils keep every
safety rule of `Coil` (clamped pulses, watchdog thread, off in `finally`).

Registers used (IOCON.BANK = 0, the power-on default, which this driver never changes):

======== ==== ===========================================================================
IODIRA/B 0x00 pin direction, 1 = input (power-on: all inputs, i.e. outputs high impedance)
IPOLA/B  0x02 input polarity; cleared, so GPIO reads the true level
GPINTEN  0x04 interrupt-on-change; cleared (inputs are polled, see docs/hardware.md)
GPPUA/B  0x0C 100 kΩ pull-ups; set for door inputs
GPIOA/B  0x12 read: pin levels
OLATA/B  0x14 output latches
======== ==== ===========================================================================

Safety: opening the factory first makes every pin an input (a chip that kept its latches
from before a crash stops driving coils), clears the latches, and only then may a device
make a pin an output; `output_with_state` writes the latch *before* it flips the direction
bit, so an output never starts energised. Closing a pin or the factory makes the pins
inputs again.

Door inputs are polled by one thread per chip (`poll_interval_s`); edges are handed to
gpiozero's `when_changed` callbacks from that thread, as real gpiozero pins do. Coil writes
happen on the caller's thread (short blocking I²C writes, about 0.3 ms at 100 kHz).
All bus access is serialised by a lock, the register images are cached (read-modify-write
without reading back), and I²C failures are counted in `bus_errors`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from types import MethodType
from typing import Any, Protocol
from weakref import WeakMethod, ref

from gpiozero import (
    PinEdgeDetectUnsupported,
    PinFixedPull,
    PinInvalidFunction,
    PinInvalidPin,
    PinInvalidPull,
    PinInvalidState,
)
from gpiozero.compat import frozendict
from gpiozero.pins import BoardInfo, Factory, HeaderInfo, Pin, PinInfo

from docbox_edge.boxconfig import MCP23017_PINS, canonical_mcp_pin
from docbox_edge.hardware.errors import BusError

log = logging.getLogger(__name__)

IODIRA, IODIRB = 0x00, 0x01
IPOLA, IPOLB = 0x02, 0x03
GPINTENA, GPINTENB = 0x04, 0x05
GPPUA, GPPUB = 0x0C, 0x0D
GPIOA, GPIOB = 0x12, 0x13
OLATA, OLATB = 0x14, 0x15

ADDRESSES = range(0x20, 0x28)
"""7-bit addresses an MCP23017 can have (A2 A1 A0 pins)."""

_WRITE_ATTEMPTS = 3  # a coil write is retried: one glitch on the bus must not leave it on
_LOGGED_ERRORS_IN_A_ROW = 3  # then one "suppressed" note, until the chip answers again


class SMBusLike(Protocol):
    """The part of smbus2's `SMBus` the driver uses (the simulated bus implements it too)."""

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        """Read one register."""
        ...

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        """Write one register."""
        ...


class _McpBoardInfo(BoardInfo):  # type: ignore[misc]  # gpiozero is untyped
    """Board info of one chip, finding pins by any accepted spelling ("a0", "GPA0", ...)."""

    def find_pin(self, name: object) -> Iterator[tuple[Any, Any]]:
        """Yield (header, pin) for the pin `name` identifies."""
        canonical = canonical_mcp_pin(name) if isinstance(name, str) else None
        if canonical is None:
            return
        header = self.headers["MCP23017"]
        yield header, header.pins[MCP23017_PINS.index(canonical) + 1]


def _board_info(label: str) -> Any:
    pins = {
        number: PinInfo(
            number=number,
            name=name,
            names=frozenset({name, f"GP{name}"}),
            pull="",
            row=number,
            col=1,
            interfaces=frozenset({"gpio"}),
        )
        for number, name in enumerate(MCP23017_PINS, start=1)
    }
    header = HeaderInfo(name="MCP23017", rows=16, columns=1, pins=frozendict(pins))
    return _McpBoardInfo(
        revision=label,
        model="MCP23017",
        pcb_revision="",
        released="",
        soc="",
        manufacturer="Microchip",
        memory=0,
        storage="",
        usb=0,
        usb3=0,
        ethernet=0,
        eth_speed=0,
        wifi=False,
        bluetooth=False,
        csi=0,
        dsi=0,
        headers=frozendict({"MCP23017": header}),
        board="",
    )


class Mcp23017Pin(Pin):  # type: ignore[misc]  # gpiozero is untyped
    """One pin of an MCP23017; created by `Mcp23017Factory.pin`."""

    def __init__(self, factory: Mcp23017Factory, info: Any, port: int, bit: int) -> None:
        self._factory = factory
        self._info = info
        self.port = port
        self.bit = bit
        self._edges = "both"
        self._when_changed: Callable[[], Callable[[float, bool], None] | None] | None = None

    def __repr__(self) -> str:
        return f"{self._factory.label}:{self._info.name}"

    @property
    def factory(self) -> Mcp23017Factory:
        """The chip this pin belongs to."""
        return self._factory

    def close(self) -> None:
        """Stop watching the pin and release it (input, high impedance)."""
        self.when_changed = None
        if not self._factory.closed:  # a closed factory has released every pin already
            self.function = "input"

    def output_with_state(self, state: Any) -> None:
        """Become an output at `state`: the latch is written before the direction flips."""
        self._factory._set_latch(self, self._checked_state(state))
        self._factory._set_direction(self, output=True)

    def _get_info(self) -> Any:
        return self._info

    def _get_function(self) -> str:
        return "output" if self._factory._is_output(self) else "input"

    def _set_function(self, value: str) -> None:
        if value not in ("input", "output"):
            raise PinInvalidFunction(f"{self!r}: function must be input or output, not {value!r}")
        self._factory._set_direction(self, output=value == "output")

    def _get_state(self) -> bool:
        if self._factory._is_output(self):
            return self._factory._latch(self)
        return self._factory._read_level(self)

    def _set_state(self, value: Any) -> None:
        if not self._factory._is_output(self):
            raise PinInvalidState(f"cannot set the state of input pin {self!r}")
        self._factory._set_latch(self, self._checked_state(value))

    def _get_pull(self) -> str:
        return "up" if self._factory._pulled_up(self) else "floating"

    def _set_pull(self, value: str) -> None:
        if self._factory._is_output(self):
            raise PinFixedPull(f"cannot set the pull of output pin {self!r}")
        if value not in ("up", "floating"):
            raise PinInvalidPull(
                f"{self!r}: the MCP23017 has pull-ups only (not {value!r}); wire sensors to ground"
            )
        self._factory._set_pull_up(self, value == "up")

    def _get_bounce(self) -> None:
        return None

    def _set_bounce(self, value: Any) -> None:
        if value is not None:
            # Doors are debounced by the lock board (Debouncer); a second, hidden debounce
            # here would only delay them.
            raise PinEdgeDetectUnsupported(f"{self!r}: no bounce filter here; debounce in software")

    def _get_edges(self) -> str:
        return self._edges

    def _set_edges(self, value: str) -> None:
        if value not in ("none", "falling", "rising", "both"):
            raise PinEdgeDetectUnsupported(f"{self!r}: unknown edges {value!r}")
        self._edges = value

    def _get_when_changed(self) -> Callable[[float, bool], None] | None:
        return None if self._when_changed is None else self._when_changed()

    def _set_when_changed(self, value: Callable[[float, bool], None] | None) -> None:
        # Like gpiozero's own pins: a weak reference, so a forgotten device can be collected.
        if value is None:
            self._when_changed = None
            self._factory._unwatch(self)
            return
        self._when_changed = WeakMethod(value) if isinstance(value, MethodType) else ref(value)
        self._factory._watch(self)

    def _changed(self, ticks: float, level: bool) -> None:
        """Called by the poller with a new input level."""
        if self._edges == "none" or (self._edges == "rising" and not level):
            return
        if self._edges == "falling" and level:
            return
        callback = self._get_when_changed()
        if callback is None:
            return
        callback(ticks, level)

    def _checked_state(self, value: Any) -> bool:
        if value not in (0, 1):  # True/False included
            raise PinInvalidState(f"{self!r}: state must be 0 or 1, not {value!r}")
        return bool(value)


class Mcp23017Factory(Factory):  # type: ignore[misc]  # gpiozero is untyped
    """gpiozero pin factory for one MCP23017 on an I²C bus.

    Opening it puts the chip into its safe state (all pins inputs, latches and pull-ups
    cleared, input polarity normal, interrupts off).

    Args:
        bus: The I²C bus (`smbus2.SMBus(1)`, or a `SimulatedI2CBus`); shared by the chips
            on it and not closed by the factory.
        address: 7-bit address, 0x20-0x27.
        poll_interval_s: Period of the input polling thread.
        label: Name in messages and thread names; defaults to "mcp23017@0x20".

    Raises:
        ValueError: Address or interval out of range.
        BusError: The chip does not answer.
    """

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x20,
        *,
        poll_interval_s: float = 0.01,
        label: str | None = None,
    ) -> None:
        if address not in ADDRESSES:
            raise ValueError(f"an MCP23017 address is 0x20-0x27, not {address:#x}")
        if not poll_interval_s > 0:
            raise ValueError(f"poll_interval_s must be > 0, not {poll_interval_s!r}")
        super().__init__()
        self.bus = bus
        self.address = address
        self.poll_interval_s = poll_interval_s
        self.label = label or f"mcp23017@{address:#04x}"
        self._info = _board_info(self.label)
        self._lock = threading.RLock()  # the bus and the register images
        self._iodir = [0xFF, 0xFF]
        self._olat = [0x00, 0x00]
        self._gppu = [0x00, 0x00]
        self._pins: dict[str, Mcp23017Pin] = {}
        self._watched: dict[Mcp23017Pin, bool] = {}  # pin -> level last reported
        self._bus_errors = 0
        self._errors_in_a_row = 0
        self.input_changes = 0
        """Input level changes the poller has seen (and handed to the callbacks)."""
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._closed = False
        # Safe state first: as inputs, pins stop driving whatever a crashed run left on.
        for register, value in (
            (IODIRA, 0xFF),
            (IODIRB, 0xFF),
            (OLATA, 0x00),
            (OLATB, 0x00),
            (GPPUA, 0x00),
            (GPPUB, 0x00),
            (IPOLA, 0x00),
            (IPOLB, 0x00),
            (GPINTENA, 0x00),
            (GPINTENB, 0x00),
        ):
            self._write(register, value, attempts=_WRITE_ATTEMPTS if register in (IODIRA, IODIRB) else 1)

    @property
    def bus_errors(self) -> int:
        """Failed I²C transfers since the factory was opened."""
        return self._bus_errors

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    def pin(self, name: Any) -> Mcp23017Pin:
        """The pin called `name` ("A0"-"B7", "GPA0"...); the same object for the same pin.

        Raises:
            PinInvalidPin: No such pin on an MCP23017.
        """
        for _header, info in self._info.find_pin(name):
            pin = self._pins.get(info.name)
            if pin is None:
                index = MCP23017_PINS.index(info.name)
                pin = Mcp23017Pin(self, info, port=index // 8, bit=index % 8)
                self._pins[info.name] = pin
            return pin
        raise PinInvalidPin(f"{name!r} is not an MCP23017 pin (A0-A7, B0-B7)")

    def ticks(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def ticks_diff(self, later: float, earlier: float) -> float:
        """Seconds between two `ticks()`."""
        return later - earlier

    def close(self) -> None:
        """Stop polling and make every pin an input (outputs released); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join()
        with self._lock:
            self._watched.clear()
            for port in (0, 1):
                self._iodir[port] = 0xFF
                try:
                    self._write((IODIRA, IODIRB)[port], 0xFF)
                except BusError:
                    log.exception("%s: could not release the pins of port %s", self.label, "AB"[port])
        self._pins.clear()

    def _get_board_info(self) -> Any:
        return self._info

    # -- register access (all under the lock) ----------------------------------------------

    def _is_output(self, pin: Mcp23017Pin) -> bool:
        return not self._iodir[pin.port] >> pin.bit & 1

    def _latch(self, pin: Mcp23017Pin) -> bool:
        return bool(self._olat[pin.port] >> pin.bit & 1)

    def _pulled_up(self, pin: Mcp23017Pin) -> bool:
        return bool(self._gppu[pin.port] >> pin.bit & 1)

    def _set_latch(self, pin: Mcp23017Pin, level: bool) -> None:
        with self._lock:
            self._olat[pin.port] = _with_bit(self._olat[pin.port], pin.bit, level)
            self._write((OLATA, OLATB)[pin.port], self._olat[pin.port], attempts=_WRITE_ATTEMPTS)

    def _set_direction(self, pin: Mcp23017Pin, *, output: bool) -> None:
        with self._lock:
            self._iodir[pin.port] = _with_bit(self._iodir[pin.port], pin.bit, not output)
            self._write((IODIRA, IODIRB)[pin.port], self._iodir[pin.port], attempts=_WRITE_ATTEMPTS)

    def _set_pull_up(self, pin: Mcp23017Pin, up: bool) -> None:
        with self._lock:
            self._gppu[pin.port] = _with_bit(self._gppu[pin.port], pin.bit, up)
            self._write((GPPUA, GPPUB)[pin.port], self._gppu[pin.port])

    def _read_level(self, pin: Mcp23017Pin) -> bool:
        return bool(self._read((GPIOA, GPIOB)[pin.port]) >> pin.bit & 1)

    def _write(self, register: int, value: int, *, attempts: int = 1) -> None:
        with self._lock:
            for attempt in range(1, attempts + 1):
                try:
                    self.bus.write_byte_data(self.address, register, value)
                except OSError as exc:
                    self._bus_error(f"write {value:#04x} to register {register:#04x}", exc)
                    if attempt == attempts:
                        raise BusError(
                            f"{self.label}: write {value:#04x} to register {register:#04x} failed: {exc}"
                        ) from exc
                else:
                    self._bus_ok()
                    return

    def _read(self, register: int) -> int:
        with self._lock:
            try:
                value = self.bus.read_byte_data(self.address, register)
            except OSError as exc:
                self._bus_error(f"read of register {register:#04x}", exc)
                raise BusError(f"{self.label}: read of register {register:#04x} failed: {exc}") from exc
            self._bus_ok()
            return value

    def _bus_error(self, what: str, exc: OSError) -> None:
        self._bus_errors += 1
        self._errors_in_a_row += 1
        if self._errors_in_a_row <= _LOGGED_ERRORS_IN_A_ROW:
            log.warning("%s: I²C %s failed: %s", self.label, what, exc)
        elif self._errors_in_a_row == _LOGGED_ERRORS_IN_A_ROW + 1:
            log.warning(
                "%s: %d I²C errors in a row; further ones are counted, not logged, until it answers",
                self.label,
                self._errors_in_a_row,
            )

    def _bus_ok(self) -> None:
        if self._errors_in_a_row > _LOGGED_ERRORS_IN_A_ROW:
            log.info("%s answers again after %d failed transfers", self.label, self._errors_in_a_row)
        self._errors_in_a_row = 0

    # -- input polling ---------------------------------------------------------------------

    def _watch(self, pin: Mcp23017Pin) -> None:
        with self._lock:
            if self._closed:
                return
            self._watched[pin] = self._read_level(pin)
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll_forever, name=self.label, daemon=True)
                self._poller.start()

    def _unwatch(self, pin: Mcp23017Pin) -> None:
        with self._lock:
            self._watched.pop(pin, None)

    def _poll_forever(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            try:
                self._poll()
            except BusError:
                pass  # counted and logged by _read; the next poll tries again
            except Exception:
                log.exception("%s: input poll failed", self.label)

    def _poll(self) -> None:
        with self._lock:
            ports = {pin.port for pin in self._watched}
            levels = {port: self._read((GPIOA, GPIOB)[port]) for port in sorted(ports)}
            ticks = time.monotonic()
            changed = []
            for pin, last in self._watched.items():
                level = bool(levels[pin.port] >> pin.bit & 1)
                if level != last:
                    self._watched[pin] = level
                    changed.append((pin, level))
            self.input_changes += len(changed)
        # Callbacks run outside the lock: they may switch outputs (which takes it again
        # on this thread, fine) or hand over to other threads that need it.
        for pin, level in changed:
            pin._changed(ticks, level)


def _with_bit(value: int, bit: int, on: bool) -> int:
    return value | 1 << bit if on else value & ~(1 << bit) & 0xFF
