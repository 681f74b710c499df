"""All lock boards of one box, addressed by compartment number."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, Final

from gpiozero.pins import Factory

from docbox_edge.boxconfig import (
    BoardConfig,
    BoxConfig,
    GpioBoardConfig,
    KerongBoardConfig,
    Mcp23017BoardConfig,
)
from docbox_edge.hardware.errors import ConfigError, HardwareError, UnknownCompartment
from docbox_edge.hardware.gpio import GpioLockBoard
from docbox_edge.hardware.kerong import KerongBus, KerongLockBoard
from docbox_edge.hardware.kerong_codec import KerongModel
from docbox_edge.hardware.lockboard import (
    ChannelChange,
    ChannelSignal,
    DoorChange,
    DoorFlapping,
    DoorSignal,
    LockBoard,
)
from docbox_edge.hardware.mcp23017 import Mcp23017Factory, SMBusLike
from docbox_edge.hardware.pinfactories import open_pin_factory

log = logging.getLogger(__name__)

_END: Final = object()  # queued by close(): ends signals()


class BoxHardware:
    """All boards of one box, addressed by compartment number.

    The configuration maps compartment -> board -> channel. Door signals of every board
    are collected, in order, in one unbounded queue read by `signals()`; nothing is dropped,
    also not before anyone reads.

    Args:
        config: The box configuration.
        boards: Board id -> board, for every board the configuration's compartments use.
        pin_factories: Pin factories that `close()` closes after the boards (the ones
            `build_hardware` created itself).

    Raises:
        ConfigError: A configured board is missing from `boards`.
    """

    def __init__(
        self,
        config: BoxConfig,
        boards: Mapping[str, LockBoard],
        *,
        pin_factories: Iterable[Any] = (),
    ) -> None:
        missing = sorted({c.board for c in config.compartments} - set(boards))
        if missing:
            raise ConfigError(f"no lock board given for board id(s) {', '.join(missing)}")
        self.config = config
        self.boards: Mapping[str, LockBoard] = MappingProxyType(dict(boards))
        self.compartments: Sequence[int] = tuple(sorted(c.number for c in config.compartments))
        self._pin_factories = list(pin_factories)
        self._route = {c.number: (boards[c.board], c.board_channel) for c in config.compartments}
        self._compartment_of = {(c.board, c.board_channel): c.number for c in config.compartments}
        self._queue: asyncio.Queue[DoorSignal | object] = asyncio.Queue()
        self._closed = False
        for board_id, board in self.boards.items():
            board.set_signal_handler(functools.partial(self._on_board_signal, board_id))

    async def start(self) -> None:
        """Start every board: all outputs off, then watch the doors.

        If a board fails to start, every board is closed again and the error is raised.
        """
        try:
            for board in self.boards.values():
                await board.start()
        except BaseException:
            await self._close_boards()
            raise

    async def pulse(self, compartment: int) -> None:
        """Pulse a compartment's lock for its configured `pulse_ms` (never longer).

        Raises:
            UnknownCompartment: The box has no such compartment.
            CoilBusy: That lock is already being pulsed.
        """
        board, channel = self._board_channel(compartment)
        await board.pulse(channel, self.config.pulse_ms(compartment) / 1000)

    def door_is_open(self, compartment: int) -> bool:
        """Debounced door state of a compartment.

        Raises:
            UnknownCompartment: The box has no such compartment.
        """
        board, channel = self._board_channel(compartment)
        return board.door_is_open(channel)

    def coil_is_on(self, compartment: int) -> bool:
        """Whether a compartment's coil is energised right now (diagnostics and tests)."""
        board, channel = self._board_channel(compartment)
        return board.coil_is_on(channel)

    @property
    def bus_errors(self) -> int:
        """Failed bus transfers (I²C, RS-485) since start, summed over boards and chips."""
        parts = [*self.boards.values(), *self._pin_factories]
        return sum(int(getattr(part, "bus_errors", 0)) for part in parts)

    async def signals(self) -> AsyncIterator[DoorSignal]:
        """Door changes and flapping reports of all compartments, in order, until `close()`.

        Meant for one consumer: concurrent iterators would share (split) the signals.
        """
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)  # let any other iterator end too
                return
            assert isinstance(item, DoorChange | DoorFlapping)
            yield item

    async def close(self) -> None:
        """Close every board (all outputs off, pins released), then end `signals()`."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._close_boards()
        finally:
            for factory in self._pin_factories:
                try:
                    factory.close()
                except Exception:
                    log.exception("could not close pin factory %r", factory)
            self._queue.put_nowait(_END)

    async def __aenter__(self) -> BoxHardware:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _board_channel(self, compartment: int) -> tuple[LockBoard, int]:
        try:
            return self._route[compartment]
        except KeyError:
            raise UnknownCompartment(compartment) from None

    def _on_board_signal(self, board_id: str, signal: ChannelSignal) -> None:
        compartment = self._compartment_of.get((board_id, signal.channel))
        if compartment is None:
            log.warning("board %r reported unconfigured channel %s", board_id, signal.channel)
            return
        door_signal: DoorSignal
        if isinstance(signal, ChannelChange):
            door_signal = DoorChange(compartment=compartment, state=signal.state, at=signal.at)
        else:
            door_signal = DoorFlapping(
                compartment=compartment, changes=signal.changes, window_s=signal.window_s
            )
        self._queue.put_nowait(door_signal)

    async def _close_boards(self) -> None:
        # Every board gets closed (outputs off!) even if an earlier one fails to.
        first_error: BaseException | None = None
        for board in self.boards.values():
            try:
                await board.close()
            except Exception as exc:
                log.exception("could not close board %r", board.board_id)
                first_error = first_error or exc
        if first_error is not None:
            raise first_error


def build_hardware(
    config: BoxConfig,
    pin_factory: Factory | None = None,
    *,
    i2c_buses: Mapping[int, SMBusLike] | None = None,
    serial_ports: Mapping[str, str] | None = None,
) -> BoxHardware:
    """Construct the box's lock boards from its configuration.

    Args:
        config: The box configuration.
        pin_factory: gpiozero pin factory for every GPIO board (e.g. an
            `ExtendedMockFactory` in tests and demos). None: each board uses the factory its
            configuration names ("simulated" creates an `ExtendedMockFactory`), or gpiozero's
            default, which on a Raspberry Pi drives the real pins.
        i2c_buses: I²C bus number -> bus object to use instead of opening
            `smbus2.SMBus(number)` (simulated buses; the caller closes them).
        serial_ports: Configured serial port -> device to open instead (e.g. the
            pseudo-terminal of a simulated RS-485 line).

    Raises:
        ConfigError: A pin does not exist on the factory's header, or is used twice.
        PinFactoryUnavailable: A configured pin factory cannot be loaded here.
        BusError: An I²C expander does not answer.
        HardwareError: A bus cannot be opened, or the pins could not be set up.
    """
    builder = _Builder(config, pin_factory, i2c_buses or {}, serial_ports or {})
    try:
        for board_config in config.boards:
            builder.add(board_config)
    except BaseException:
        builder.abort()
        raise
    return BoxHardware(config, builder.boards, pin_factories=builder.resources())


class _Builder:
    """Creates boards, and the factories and buses they share, in configuration order."""

    def __init__(
        self,
        config: BoxConfig,
        pin_factory: Factory | None,
        i2c_buses: Mapping[int, SMBusLike],
        serial_ports: Mapping[str, str],
    ) -> None:
        self.config = config
        self.pin_factory = pin_factory
        self.given_i2c = i2c_buses
        self.serial_ports = serial_ports
        self.boards: dict[str, LockBoard] = {}
        self.gpio_factories: dict[str | None, Any] = {}
        self.owned_gpio: list[Any] = []
        self.mcp_factories: list[Mcp23017Factory] = []
        self.i2c: dict[int, SMBusLike] = {}
        self.owned_i2c: list[Any] = []
        self.rs485: dict[str, KerongBus] = {}

    def add(self, board: BoardConfig) -> None:
        if isinstance(board, GpioBoardConfig):
            factory = self.pin_factory if self.pin_factory is not None else self._gpio_factory(board)
            self.boards[board.id] = _gpio_board(self.config, board, factory)
        elif isinstance(board, Mcp23017BoardConfig):
            chip = Mcp23017Factory(
                self._i2c_bus(board.bus),
                board.address,
                poll_interval_s=board.poll_interval_ms / 1000,
                label=f"{board.id} (mcp23017 {board.address:#04x} on i2c-{board.bus})",
            )
            self.mcp_factories.append(chip)
            self.boards[board.id] = _gpio_board(self.config, board, chip)
        else:
            self.boards[board.id] = self._kerong_board(board)

    def resources(self) -> list[Any]:
        """What `BoxHardware.close()` closes after the boards, in this order."""
        return [*self.owned_gpio, *self.mcp_factories, *self.owned_i2c, *self.rs485.values()]

    def abort(self) -> None:
        for board in self.boards.values():
            if isinstance(board, GpioLockBoard | KerongLockBoard):
                board.close_now()
        for resource in self.resources():
            try:
                resource.close()
            except Exception:
                log.exception("could not close %r after a failed build", resource)

    def _gpio_factory(self, board: GpioBoardConfig) -> Any:
        # Boards naming the same factory share it: they sit on the same header.
        if board.pin_factory not in self.gpio_factories:
            self.gpio_factories[board.pin_factory] = open_pin_factory(board.pin_factory)
            if board.pin_factory is not None:  # gpiozero's global default is not ours to close
                self.owned_gpio.append(self.gpio_factories[board.pin_factory])
        return self.gpio_factories[board.pin_factory]

    def _i2c_bus(self, number: int) -> SMBusLike:
        # Chips on one bus share one bus object, and with it the kernel device.
        if number in self.given_i2c:
            return self.given_i2c[number]
        if number not in self.i2c:
            from smbus2 import SMBus  # only boxes with expanders need the I²C device

            try:
                bus = SMBus(number)
            except OSError as exc:
                raise HardwareError(
                    f"cannot open I²C bus {number} (/dev/i2c-{number}; is I²C enabled?): {exc}"
                ) from exc
            self.i2c[number] = bus
            self.owned_i2c.append(bus)
        return self.i2c[number]

    def _kerong_board(self, board: KerongBoardConfig) -> KerongLockBoard:
        bus = self.rs485.get(board.port)
        if bus is None:
            bus = KerongBus(self.serial_ports.get(board.port, board.port), baudrate=board.baudrate)
            self.rs485[board.port] = bus
            bus.open()
        defaults = self.config.defaults
        return KerongLockBoard(
            board.id,
            bus,
            model=KerongModel(board.model),
            address=board.address,
            channels=[c.board_channel for c in self.config.compartments_on(board.id)],
            debounce_s=defaults.debounce_ms / 1000,
            flapping_changes=defaults.flapping_changes,
            flapping_window_s=defaults.flapping_window_ms / 1000,
            poll_interval_s=board.poll_interval_ms / 1000,
            reply_timeout_s=board.reply_timeout_ms / 1000,
        )


def _gpio_board(
    config: BoxConfig, board: GpioBoardConfig | Mcp23017BoardConfig, factory: Any
) -> GpioLockBoard:
    channels = {}
    for c in config.compartments_on(board.id):
        # BoxConfig guarantees both pins for compartments on gpio and mcp23017 boards.
        assert c.lock_pin is not None
        assert c.door_pin is not None
        channels[c.board_channel] = (c.lock_pin, c.door_pin)
    defaults = config.defaults
    return GpioLockBoard(
        board.id,
        channels,
        pin_factory=factory,
        lock_active_high=board.lock_active_high,
        door_pull_up=board.door_pull_up,
        door_open_when_active=board.door_open_when_active,
        debounce_s=defaults.debounce_ms / 1000,
        flapping_changes=defaults.flapping_changes,
        flapping_window_s=defaults.flapping_window_ms / 1000,
    )
