"""A whole simulated box for any configuration: simulators for every board, real drivers on them.

`SimulatedHardware(config)` creates, per board kind,

- gpio: one `ExtendedMockFactory` shared by all GPIO boards (whatever `pin_factory` they name);
- mcp23017: a `SimulatedI2CBus` per bus number with a `SimulatedMcp23017` per board;
- kerong: a `SimulatedKerongBus` (pseudo-terminal) per serial port with a
  `SimulatedKerongBoard` per board;

then builds the real drivers with `build_hardware` on them (the I²C buses are injected, the
serial ports are redirected to the pseudo-terminals) and puts one `SimulatedBox` on top, so
simulated people and faults work the same on every board kind.

Create it inside a running event loop (the `SimulatedBox` needs one)::

    async with SimulatedHardware(load_box_config("edge/examples/box-600-mixed.toml")) as sim:
        sim.box.auto_person(open_after_s=1.0, shut_after_s=3.0)
        await sim.hardware.pulse(17)
"""

from __future__ import annotations

from types import TracebackType

from docbox_edge.boxconfig import BoxConfig, GpioBoardConfig, KerongBoardConfig, Mcp23017BoardConfig
from docbox_edge.hardware.box import BoxHardware, build_hardware
from docbox_edge.hardware.i2c_sim import Mcp23017Locks, SimulatedI2CBus, SimulatedMcp23017
from docbox_edge.hardware.kerong_codec import KerongModel
from docbox_edge.hardware.kerong_sim import SimulatedKerongBoard, SimulatedKerongBus
from docbox_edge.hardware.mockpins import ExtendedMockFactory
from docbox_edge.hardware.simpins import SimulatedLocks
from docbox_edge.hardware.simulated import SimulatedBox


class SimulatedHardware:
    """Simulators for every board of `config`, the real drivers on them, and the physics.

    Attributes:
        config: The box configuration.
        hardware: The real `BoxHardware`, built on the simulators (not started yet).
        box: The physics: latches, doors, people, faults (see `SimulatedBox`).
        factory: The mock pin factory of the GPIO boards (None without GPIO boards).
        i2c_buses: Simulated I²C buses by bus number.
        rs485: Simulated RS-485 lines by configured serial port.

    Args:
        config: The box configuration.
        unlock_time_s: Coil time of the simulated Kerong controllers (keep it at or below
            the compartments' pulse_ms, as on a real installation).
        relatch_after_s: See `SimulatedBox`.
    """

    def __init__(
        self,
        config: BoxConfig,
        *,
        unlock_time_s: float = 0.1,
        relatch_after_s: float | None = None,
    ) -> None:
        self.config = config
        self.factory: ExtendedMockFactory | None = None
        self.i2c_buses: dict[int, SimulatedI2CBus] = {}
        self.rs485: dict[str, SimulatedKerongBus] = {}
        self._chips: dict[str, SimulatedMcp23017] = {}
        self._controllers: dict[str, SimulatedKerongBoard] = {}
        self._closed = False
        self._box: SimulatedBox | None = None
        simulated: dict[str, SimulatedLocks] = {}
        try:
            for board in config.boards:
                if isinstance(board, GpioBoardConfig):
                    if self.factory is None:
                        self.factory = ExtendedMockFactory()
                elif isinstance(board, Mcp23017BoardConfig):
                    simulated[board.id] = self._add_chip(board)
                else:
                    simulated[board.id] = self._add_controller(board, unlock_time_s)
            self.box = self._box = SimulatedBox(
                config, self.factory, boards=simulated, relatch_after_s=relatch_after_s
            )
            self.hardware: BoxHardware = build_hardware(
                config,
                self.factory,
                i2c_buses=self.i2c_buses,
                serial_ports={port: line.path for port, line in self.rs485.items()},
            )
        except BaseException:
            self._close_simulators()
            raise

    def chip(self, board_id: str) -> SimulatedMcp23017:
        """The simulated MCP23017 of an mcp23017 board (KeyError if none)."""
        return self._chips[board_id]

    def controller(self, board_id: str) -> SimulatedKerongBoard:
        """The simulated controller of a kerong board (KeyError if none)."""
        return self._controllers[board_id]

    async def start(self) -> None:
        """Start the hardware (all outputs off, then watch the doors)."""
        await self.hardware.start()

    async def close(self) -> None:
        """Close the hardware, then the physics and the simulators; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.hardware.close()
        finally:
            self._close_simulators()

    async def __aenter__(self) -> SimulatedHardware:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _add_chip(self, board: Mcp23017BoardConfig) -> Mcp23017Locks:
        bus = self.i2c_buses.get(board.bus)
        if bus is None:
            bus = self.i2c_buses[board.bus] = SimulatedI2CBus(board.bus)
        # A released coil output rests at "off": pulled down (active high) or up (active low).
        chip = bus.add_chip(SimulatedMcp23017(board.address, released_level=not board.lock_active_high))
        self._chips[board.id] = chip
        pins: dict[int, tuple[str, str]] = {}
        for c in self.config.compartments_on(board.id):
            assert c.lock_pin is not None  # BoxConfig requires both pins on mcp23017 boards
            assert c.door_pin is not None
            pins[c.board_channel] = (str(c.lock_pin), str(c.door_pin))
        return Mcp23017Locks(chip, board, pins)

    def _add_controller(self, board: KerongBoardConfig, unlock_time_s: float) -> SimulatedKerongBoard:
        line = self.rs485.get(board.port)
        if line is None:
            line = self.rs485[board.port] = SimulatedKerongBus(KerongModel(board.model))
            line.start()
        controller = line.add_board(board.address, unlock_time_s=unlock_time_s)
        self._controllers[board.id] = controller
        return controller

    def _close_simulators(self) -> None:
        if self._box is not None:
            self._box.close()
        for line in self.rs485.values():
            line.close()
        for bus in self.i2c_buses.values():
            bus.close()
        if self.factory is not None:
            self.factory.close()
