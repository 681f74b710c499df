"""Box configuration: which compartments exist, and on which board, channel and pins they sit.

Loaded from a TOML file (see edge/examples/box-small.toml for a commented example):

```toml
box_id = "buergeramt-1"

[defaults]            # all optional
pulse_ms = 300        # coil pulse; hard cap 2000
debounce_ms = 30      # a door state must hold this long
flapping_changes = 10 # more raw sensor edges than this ...
flapping_window_ms = 5000  # ... within this window = flapping

[[boards]]
id = "main"
kind = "gpio"         # or "mcp23017" (I²C expander) or "kerong" (RS-485 lock controller)

[[compartments]]
number = 1
board = "main"
lock_pin = "GPIO17"
door_pin = "GPIO27"
size = "M"            # S, M or L
height_cm = 85        # floor to the bottom of the door
pulse_ms = 400        # optional override
```

Boards of kind "mcp23017" name their pins "A0"-"B7"; boards of kind "kerong" take no pins but
need `channel` (the lock number 1-16 or 1-48 on the controller); see
edge/examples/box-600-mixed.toml and docs/hardware.md.

The models are frozen pydantic models; cross-field rules (unique numbers, known boards,
no pin used twice on a header, ...) are checked on construction, and every violation is
listed in the error.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from docbox_edge.hardware.errors import ConfigError, UnknownCompartment
from docbox_edge.hardware.lockboard import PULSE_HARD_MAX_S

BOX_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
BOARD_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
PULSE_MS_HARD_MAX = round(PULSE_HARD_MAX_S * 1000)
"""Hard cap for any configured pulse; the drivers clamp to it as well."""

ACCESSIBLE_MIN_HEIGHT_CM = 40
ACCESSIBLE_MAX_HEIGHT_CM = 120
"""A door whose bottom edge is within this band can be reached from a wheelchair
(DIN 18040-1 puts the reach range at about 40-140 cm; the door itself needs room above)."""

SIMULATED_PIN_FACTORY = "simulated"
"""Pin factory name that `build_hardware` resolves to an `ExtendedMockFactory`."""

CompartmentSize = Literal["S", "M", "L"]
PinName = Annotated[int, Field(ge=0)] | Annotated[str, Field(min_length=1, max_length=32)]
"""A gpiozero pin name: 17, "GPIO17", "BCM17", "BOARD11", "J8:11", ..."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Defaults(_Frozen):
    """Box-wide timing defaults.

    Attributes:
        pulse_ms: Coil pulse length (a compartment may override it); at most 2000.
        debounce_ms: A door state must hold this long before it is reported.
        flapping_changes: Raw door-sensor edges allowed within the window.
        flapping_window_ms: Window for counting raw edges; one edge more is flapping.
    """

    pulse_ms: int = Field(300, gt=0, le=PULSE_MS_HARD_MAX)
    debounce_ms: int = Field(30, ge=1, le=1000)
    flapping_changes: int = Field(10, ge=2, le=1000)
    flapping_window_ms: int = Field(5000, ge=100, le=3_600_000)


class GpioBoardConfig(_Frozen):
    """Coils and door sensors wired straight to GPIO pins (see docs/hardware.md).

    Attributes:
        id: Board name, referenced by compartments.
        pin_factory: gpiozero pin factory name ("lgpio", "rpigpio", "native", ... or
            "simulated"); None uses gpiozero's default. Boards naming the same factory share
            one header, so their pins must not overlap.
        lock_active_high: Coil energised when the pin is high (False for active-low relays).
        door_pull_up: Sensor input pulled up, switch to ground (False: pulled down, to 3V3).
        door_open_when_active: Door open when the input is active (gpiozero's sense: low
            with a pull-up). False suits a reed switch that is closed while the door is shut.
    """

    kind: Literal["gpio"]
    id: str = Field(pattern=BOARD_ID_PATTERN)
    pin_factory: str | None = Field(None, pattern=r"^[a-z0-9_]{1,32}$")
    lock_active_high: bool = True
    door_pull_up: bool = True
    door_open_when_active: bool = False


MCP23017_PINS = tuple(f"{port}{bit}" for port in "AB" for bit in range(8))
"""Pin names of an MCP23017: A0-A7 (port A, GPA0-GPA7) and B0-B7 (port B)."""


class Mcp23017BoardConfig(_Frozen):
    """Coils and door sensors on the 16 pins of one MCP23017 I²C expander (docs/hardware.md).

    Pins are named "A0"-"A7" and "B0"-"B7" ("GPA0", "gpb7", ... are accepted too). The chip
    has pull-ups only, so door sensors switch to ground.

    Attributes:
        id: Board name, referenced by compartments.
        bus: I²C bus number (1 = /dev/i2c-1, the Pi header's SDA1/SCL1).
        address: 7-bit I²C address, 0x20-0x27 (set by the A0-A2 address pins).
        lock_active_high: Coil energised when the pin is high.
        door_open_when_active: Door open when the input is active (low, with the pull-up).
        poll_interval_ms: How often the door inputs are read.
    """

    kind: Literal["mcp23017"]
    id: str = Field(pattern=BOARD_ID_PATTERN)
    bus: int = Field(1, ge=0, le=255)
    address: int = Field(0x20, ge=0x20, le=0x27)
    lock_active_high: bool = True
    door_open_when_active: bool = False
    poll_interval_ms: int = Field(10, ge=1, le=1000)

    @property
    def door_pull_up(self) -> bool:
        """Always True: the MCP23017 has pull-ups only."""
        return True


KerongModelName = Literal["cu16", "cu48"]
KERONG_LOCKS: Mapping[str, int] = {"cu16": 16, "cu48": 48}
KERONG_MAX_ADDRESS: Mapping[str, int] = {"cu16": 15, "cu48": 31}


class KerongBoardConfig(_Frozen):
    """A Kerong CU16/CU48 lock controller on an RS-485 bus (docs/hardware.md).

    The controller energises its coils itself (for the unlock time set on the controller)
    and reports each lock's hook feedback, which serves as the door sensor.

    Attributes:
        id: Board name, referenced by compartments.
        model: "cu16" (16 locks) or "cu48" (48 locks).
        port: Serial port of the RS-485 adapter; boards on the same port share the bus.
        baudrate: Line speed; every board on a port must use the same.
        address: Board address on the bus (DIP switches): 0-15 (CU16) or 0-31 (CU48).
        poll_interval_ms: Status polling period of the bus (the shortest of its boards wins).
        reply_timeout_ms: How long to wait for a reply before counting a bus error.
    """

    kind: Literal["kerong"]
    id: str = Field(pattern=BOARD_ID_PATTERN)
    model: KerongModelName = "cu48"
    port: str = Field(min_length=1, max_length=200)
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = 19200
    address: int = Field(ge=0, le=31)
    poll_interval_ms: int = Field(150, ge=20, le=5000)
    reply_timeout_ms: int = Field(100, ge=10, le=2000)

    @property
    def locks(self) -> int:
        """Channels of this model."""
        return KERONG_LOCKS[self.model]


BoardConfig = Annotated[
    GpioBoardConfig | Mcp23017BoardConfig | KerongBoardConfig, Field(discriminator="kind")
]


class CompartmentConfig(_Frozen):
    """One lockable compartment.

    Attributes:
        number: Compartment number as printed on the door.
        board: Id of the board its lock and sensor are wired to.
        channel: Lock number on that board; defaults to `number` on gpio and mcp23017 boards
            (which address by pin); required on kerong boards (1-16 or 1-48).
        lock_pin: Coil output pin (gpio: a gpiozero name; mcp23017: "A0"-"B7").
        door_pin: Door sensor input pin (as `lock_pin`).
        size: S, M or L.
        height_cm: Floor to the bottom edge of the door.
        pulse_ms: Pulse override for this lock; at most 2000.
    """

    number: int = Field(ge=1, le=99_999)
    board: str
    channel: int | None = Field(None, ge=0)
    lock_pin: PinName | None = None
    door_pin: PinName | None = None
    size: CompartmentSize
    height_cm: int = Field(ge=0, le=300)
    pulse_ms: int | None = Field(None, gt=0, le=PULSE_MS_HARD_MAX)

    @property
    def board_channel(self) -> int:
        """The lock's channel on its board."""
        return self.number if self.channel is None else self.channel

    @property
    def accessible(self) -> bool:
        """Whether the door is within wheelchair reach (for 'low compartment' selection)."""
        return ACCESSIBLE_MIN_HEIGHT_CM <= self.height_cm <= ACCESSIBLE_MAX_HEIGHT_CM


class BoxConfig(_Frozen):
    """The hardware of one pickup box.

    Attributes:
        box_id: The box's id (also in its MQTT topics and certificate).
        defaults: Timing defaults.
        boards: Lock boards.
        compartments: Compartments, each on one board.
    """

    box_id: str = Field(pattern=BOX_ID_PATTERN)
    defaults: Defaults = Defaults()
    boards: tuple[BoardConfig, ...] = Field(min_length=1)
    compartments: tuple[CompartmentConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_consistency(self) -> BoxConfig:
        problems = _consistency_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @cached_property
    def _by_number(self) -> dict[int, CompartmentConfig]:
        return {c.number: c for c in self.compartments}

    @cached_property
    def _boards_by_id(self) -> dict[str, BoardConfig]:
        return {b.id: b for b in self.boards}

    def compartment(self, number: int) -> CompartmentConfig:
        """The compartment with this number.

        Raises:
            UnknownCompartment: No such compartment.
        """
        try:
            return self._by_number[number]
        except KeyError:
            raise UnknownCompartment(number) from None

    def board(self, board_id: str) -> BoardConfig:
        """The board with this id (KeyError if there is none)."""
        return self._boards_by_id[board_id]

    def compartments_on(self, board_id: str) -> list[CompartmentConfig]:
        """The compartments wired to one board, in configuration order."""
        return [c for c in self.compartments if c.board == board_id]

    def pulse_ms(self, number: int) -> int:
        """The pulse length of one compartment's lock: its override, else the default."""
        own = self.compartment(number).pulse_ms
        return self.defaults.pulse_ms if own is None else own

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<string>") -> BoxConfig:
        """Parse and validate a TOML document.

        Raises:
            ConfigError: Invalid TOML or an invalid configuration, with every problem listed.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<data>") -> BoxConfig:
        """Validate already parsed data; like `from_toml`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, data, source)) from exc

    def to_toml(self, *, header: str | None = None) -> str:
        """Render as TOML that `from_toml` reads back to an equal configuration.

        Args:
            header: Comment lines put at the top of the document.
        """
        lines: list[str] = [f"# {line}".rstrip() for line in (header or "").splitlines()]
        if lines:
            lines.append("")
        lines += [f"box_id = {_toml_value(self.box_id)}", "", "[defaults]"]
        lines += _toml_pairs(self.defaults.model_dump())
        for board in self.boards:
            lines += ["", "[[boards]]", *_toml_pairs(_kind_first(board.model_dump()))]
        for compartment in self.compartments:
            pairs = _toml_pairs(compartment.model_dump(exclude_none=True))
            lines += ["", "[[compartments]]", *pairs]
        return "\n".join(lines) + "\n"


def load_box_config(path: str | Path) -> BoxConfig:
    """Read and validate a box configuration file.

    Raises:
        ConfigError: The file cannot be read, is not TOML, or is not a valid configuration.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read box configuration: {exc}") from exc
    return BoxConfig.from_toml(text, source=str(path))


# -- cross-field checks -----------------------------------------------------------------


def _consistency_problems(config: BoxConfig) -> list[str]:
    problems: list[str] = []
    boards = {b.id: b for b in config.boards}
    problems += [
        f"board id {board_id!r} is defined {n} times"
        for board_id, n in Counter(b.id for b in config.boards).items()
        if n > 1
    ]
    problems += [
        f"compartment {number} is defined {n} times"
        for number, n in Counter(c.number for c in config.compartments).items()
        if n > 1
    ]
    channels: dict[tuple[str, int], list[int]] = defaultdict(list)
    # Boards naming the same pin factory share one GPIO header, hence one pin namespace;
    # an MCP23017 is a namespace of its own, named by bus and address.
    pins: dict[tuple[tuple[object, ...], str], list[str]] = defaultdict(list)
    for c in config.compartments:
        board = boards.get(c.board)
        if board is None:
            known = ", ".join(repr(b) for b in boards)
            problems.append(f"compartment {c.number}: board {c.board!r} is not defined ({known})")
            continue
        channels[(board.id, c.board_channel)].append(c.number)
        if isinstance(board, KerongBoardConfig):
            problems += _kerong_compartment_problems(c, board)
            continue
        if c.lock_pin is None or c.door_pin is None:
            problems.append(
                f"compartment {c.number}: board {board.id!r} is a {board.kind} board, "
                "so lock_pin and door_pin are required"
            )
            continue
        for role, pin in (("lock_pin", c.lock_pin), ("door_pin", c.door_pin)):
            user = f"compartment {c.number} {role} (board {board.id!r})"
            if isinstance(board, Mcp23017BoardConfig):
                name = canonical_mcp_pin(pin)
                if name is None:
                    problems.append(f"{user}: {pin!r} is not an MCP23017 pin (A0-A7, B0-B7)")
                    continue
                pins[(("mcp23017", board.bus, board.address), name)].append(user)
            else:
                pins[(("gpio", board.pin_factory), canonical_pin(pin))].append(user)
    problems += [
        f"board {board_id!r} channel {channel} is used by compartments " + ", ".join(str(n) for n in numbers)
        for (board_id, channel), numbers in channels.items()
        if len(numbers) > 1
    ]
    problems += [
        f"pin {pin} is used more than once: " + ", ".join(users)
        for (_factory, pin), users in pins.items()
        if len(users) > 1
    ]
    problems += _bus_problems(config.boards)
    if any(isinstance(b, Mcp23017BoardConfig) and b.bus == 1 for b in config.boards):
        # I²C bus 1 is wired to GPIO2 (SDA) and GPIO3 (SCL) of the Pi header.
        problems += [
            f"pin {pin} is the I²C bus 1 of the MCP23017 boards (SDA/SCL), not free for " + ", ".join(users)
            for (space, pin), users in pins.items()
            if space[0] == "gpio" and space[1] != SIMULATED_PIN_FACTORY and pin in ("GPIO2", "GPIO3")
        ]
    return problems


def _kerong_compartment_problems(c: CompartmentConfig, board: KerongBoardConfig) -> list[str]:
    problems = []
    where = f"compartment {c.number}: board {board.id!r} is a kerong board"
    if c.channel is None:
        problems.append(f"{where}, so channel (its lock number 1-{board.locks}) is required")
    elif not 1 <= c.channel <= board.locks:
        problems.append(f"{where}: channel {c.channel} is not a lock of a {board.model} (1-{board.locks})")
    if c.lock_pin is not None or c.door_pin is not None:
        problems.append(f"{where} (no pins: the controller drives the lock); remove lock_pin/door_pin")
    return problems


def _bus_problems(boards: Sequence[BoardConfig]) -> list[str]:
    problems: list[str] = []
    chips: dict[tuple[int, int], list[str]] = defaultdict(list)
    controllers: dict[tuple[str, int], list[str]] = defaultdict(list)
    ports: dict[str, list[KerongBoardConfig]] = defaultdict(list)
    for board in boards:
        if isinstance(board, Mcp23017BoardConfig):
            chips[(board.bus, board.address)].append(board.id)
        elif isinstance(board, KerongBoardConfig):
            controllers[(board.port, board.address)].append(board.id)
            ports[board.port].append(board)
            top = KERONG_MAX_ADDRESS[board.model]
            if board.address > top:
                problems.append(
                    f"board {board.id!r}: a {board.model} address is 0-{top}, not {board.address}"
                )
    problems += [
        f"I²C bus {bus} address {address:#04x} is used by boards " + ", ".join(repr(i) for i in ids)
        for (bus, address), ids in chips.items()
        if len(ids) > 1
    ]
    problems += [
        f"serial port {port} address {address} is used by boards " + ", ".join(repr(i) for i in ids)
        for (port, address), ids in controllers.items()
        if len(ids) > 1
    ]
    for port, on_port in ports.items():
        # One line speed and one framing per RS-485 line: frames of another model or speed
        # would be noise to the other boards.
        for field in ("model", "baudrate"):
            values = sorted({str(getattr(b, field)) for b in on_port})
            if len(values) > 1:
                problems.append(
                    f"boards on serial port {port} must share one {field}, not {', '.join(values)}"
                )
    return problems


def canonical_mcp_pin(pin: int | str) -> str | None:
    """Spell an MCP23017 pin name one way ("gpa0", "A0" -> "A0"); None if it is not one."""
    if not isinstance(pin, str):
        return None
    match = re.fullmatch(r"(?:GP)?([AB][0-7])", pin.strip().upper())
    return match.group(1) if match else None


def canonical_pin(pin: int | str) -> str:
    """Spell a pin name one way, so that 17, "17", "GPIO17" and "bcm17" compare equal."""
    if isinstance(pin, int):
        return f"GPIO{pin}"
    text = pin.strip().upper()
    match = re.fullmatch(r"(?:GPIO|BCM)?(\d+)", text)
    return f"GPIO{int(match.group(1))}" if match else text


def _describe(exc: ValidationError, data: Mapping[str, Any], source: str) -> str:
    lines = [f"{source}: invalid box configuration ({exc.error_count()} problem(s)):"]
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        where = _location(error["loc"], data)
        lines.append(f"  {where}: {message}" if where else f"  {message}")
    return "\n".join(lines)


def _location(loc: Sequence[int | str], data: Mapping[str, Any]) -> str:
    text = ""
    for i, part in enumerate(loc):
        if isinstance(part, str):
            text += f".{part}" if text else part
            continue
        text += f"[{part}]"
        if i == 1 and loc[0] == "compartments":
            # Name the compartment by number: nobody counts 300 [[compartments]] tables.
            number = _get(data, "compartments", part, "number")
            if number is not None:
                text += f" (number {number})"
    return text


def _get(data: Any, *path: str | int) -> Any:
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


# -- TOML writing (tomllib reads only) ----------------------------------------------------


def _kind_first(fields: dict[str, Any]) -> dict[str, Any]:
    return {"kind": fields["kind"], **{k: v for k, v in fields.items() if k != "kind"}}


def _toml_pairs(fields: Mapping[str, Any]) -> list[str]:
    return [f"{key} = {_toml_value(value)}" for key, value in fields.items() if value is not None]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string with ASCII escapes is a TOML basic string
    raise TypeError(f"cannot write {value!r} as TOML")


# -- simulated layouts --------------------------------------------------------------------

DOOR_HEIGHT_CM: Mapping[str, int] = {"S": 10, "M": 20, "L": 30}
"""Door heights of the simulated layout: S for cards, M for passports, L for envelopes."""
_PLINTH_CM = 10
_FRAME_CM = 2
_ROWS_PER_COLUMN = 12
_LARGE_PULSE_MS = 400  # bigger doors, stronger springs: the simulated L locks get longer pulses


def generate_simulated_config(
    box_id: str,
    count: int = 500,
    columns: int | None = None,
    *,
    board_id: str = "sim",
    pin_factory: str = SIMULATED_PIN_FACTORY,
    first_gpio: int = 28,
) -> BoxConfig:
    """Lay out `count` compartments in columns on one simulated GPIO board.

    Each column holds, bottom to top, one L, two M, then S compartments, and an M at the
    top; numbers run top to bottom, column by column. Compartment i (from 0) uses pins
    GPIO{first_gpio + 2i} (lock) and GPIO{first_gpio + 2i + 1} (door): 1,000 compartments
    fit the 2,048 pins of a default `ExtendedMockFactory`.

    Args:
        box_id: Id of the box.
        count: Number of compartments.
        columns: Number of columns; by default enough for 12 rows.
        board_id: Id of the single board.
        pin_factory: Pin factory name stored in the board configuration.
        first_gpio: GPIO number of the first compartment's lock pin.

    Raises:
        ValueError: `count` or `columns` is out of range, or the columns would be too tall.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, not {count}")
    if columns is None:
        columns = math.ceil(count / _ROWS_PER_COLUMN)
    if not 1 <= columns <= count:
        raise ValueError(f"columns must be between 1 and count ({count}), not {columns}")
    rows = math.ceil(count / columns)
    sizes = _column_sizes(rows)
    heights = list(_bottoms(sizes))
    if heights[-1] > 300:
        raise ValueError(f"{rows} rows per column put the top door at {heights[-1]} cm; add columns")
    compartments: list[CompartmentConfig] = []
    remaining = count
    for _column in range(columns):
        present = min(rows, remaining)
        remaining -= present
        for row in reversed(range(present)):  # numbered top to bottom
            index = len(compartments)
            size = sizes[row]
            compartments.append(
                CompartmentConfig(
                    number=index + 1,
                    board=board_id,
                    lock_pin=f"GPIO{first_gpio + 2 * index}",
                    door_pin=f"GPIO{first_gpio + 2 * index + 1}",
                    size=size,
                    height_cm=heights[row],
                    pulse_ms=_LARGE_PULSE_MS if size == "L" else None,
                )
            )
    board = GpioBoardConfig(kind="gpio", id=board_id, pin_factory=pin_factory)
    return BoxConfig(box_id=box_id, boards=(board,), compartments=tuple(compartments))


def simulated_config_toml(box_id: str, count: int = 500, columns: int | None = None) -> str:
    """`generate_simulated_config(...)` as TOML, with a header saying how to regenerate it."""
    config = generate_simulated_config(box_id, count, columns)
    column_arg = "" if columns is None else f" --columns {columns}"
    header = (
        f"docbox box configuration: a simulated box of {count} compartments. GENERATED, do not edit:\n"
        f"  uv run python -m docbox_edge.boxconfig {box_id} --count {count}{column_arg} > FILE\n"
        "Columns of up to 12 compartments: L at the bottom, then M, M, S..., M at the top, numbered\n"
        "top to bottom, column by column. The pins (from GPIO28) live on the synthetic header of\n"
        'ExtendedMockFactory (pin_factory = "simulated"). box-small.toml explains every field.'
    )
    return config.to_toml(header=header)


def main(argv: Sequence[str] | None = None) -> None:
    """Print a simulated box configuration (`python -m docbox_edge.boxconfig --help`)."""
    import argparse  # only needed for this command

    parser = argparse.ArgumentParser(description="Print a simulated box configuration as TOML.")
    parser.add_argument("box_id")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--columns", type=int, default=None)
    args = parser.parse_args(argv)
    sys.stdout.write(simulated_config_toml(args.box_id, args.count, args.columns))


def _column_sizes(rows: int) -> list[CompartmentSize]:
    sizes: list[CompartmentSize] = ["S"] * rows
    sizes[0] = "L"
    sizes[1:3] = ["M"] * len(sizes[1:3])
    if rows >= 5:
        sizes[-1] = "M"
    return sizes


def _bottoms(sizes: Iterable[CompartmentSize]) -> Iterable[int]:
    height = _PLINTH_CM
    for size in sizes:
        yield height
        height += DOOR_HEIGHT_CM[size] + _FRAME_CM


if __name__ == "__main__":
    main()
