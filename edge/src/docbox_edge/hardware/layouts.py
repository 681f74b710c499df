"""Example box layouts spread over several board kinds (edge/examples/box-600-mixed.toml).

`generate_mixed_config()` keeps the door layout of `generate_simulated_config` (columns of
L, M, M, S..., M doors, numbered top to bottom) and wires the compartments, in number order,
to

- 12 Kerong CU48 controllers on one RS-485 line (/dev/ttyUSB0, addresses 1-12): 576 locks;
- 2 MCP23017 expanders on I²C bus 1 (0x20, 0x21): 8 locks each, coil on A0-A7, door on B0-B7;
- the Pi's own GPIO header: the last 8 locks.

Print it with `uv run python -m docbox_edge.hardware.layouts` (a test fails when the
checked-in example differs).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from docbox_edge.boxconfig import (
    BoardConfig,
    BoxConfig,
    CompartmentConfig,
    GpioBoardConfig,
    KerongBoardConfig,
    Mcp23017BoardConfig,
    generate_simulated_config,
)

CU48_BOARDS = 12
CU48_LOCKS = 48
MCP_BOARDS = 2
MCP_LOCKS = 8
HEADER_PINS = (  # (coil, door) on the Pi header; GPIO2/3 carry I²C, GPIO14/15 the console
    ("GPIO4", "GPIO17"),
    ("GPIO27", "GPIO22"),
    ("GPIO5", "GPIO6"),
    ("GPIO13", "GPIO19"),
    ("GPIO26", "GPIO21"),
    ("GPIO20", "GPIO16"),
    ("GPIO12", "GPIO25"),
    ("GPIO24", "GPIO23"),
)
RS485_PORT = "/dev/ttyUSB0"
MIXED_COUNT = CU48_BOARDS * CU48_LOCKS + MCP_BOARDS * MCP_LOCKS + len(HEADER_PINS)


def generate_mixed_config(box_id: str = "mixed-600") -> BoxConfig:
    """The 600-compartment example box over CU48 controllers, MCP23017 expanders and GPIO."""
    layout = generate_simulated_config(box_id, MIXED_COUNT)
    boards: list[BoardConfig] = [
        KerongBoardConfig(kind="kerong", id=f"cu48-{n:02d}", model="cu48", port=RS485_PORT, address=n)
        for n in range(1, CU48_BOARDS + 1)
    ]
    boards += [
        Mcp23017BoardConfig(kind="mcp23017", id=f"mcp-{0x20 + n:x}", bus=1, address=0x20 + n)
        for n in range(MCP_BOARDS)
    ]
    boards.append(GpioBoardConfig(kind="gpio", id="header"))
    compartments = []
    for index, c in enumerate(layout.compartments):
        common = {"number": c.number, "size": c.size, "height_cm": c.height_cm, "pulse_ms": c.pulse_ms}
        if index < CU48_BOARDS * CU48_LOCKS:
            board, lock = divmod(index, CU48_LOCKS)
            wiring: dict[str, object] = {"board": f"cu48-{board + 1:02d}", "channel": lock + 1}
        elif index < CU48_BOARDS * CU48_LOCKS + MCP_BOARDS * MCP_LOCKS:
            chip, pin = divmod(index - CU48_BOARDS * CU48_LOCKS, MCP_LOCKS)
            wiring = {"board": f"mcp-{0x20 + chip:x}", "lock_pin": f"A{pin}", "door_pin": f"B{pin}"}
        else:
            lock_pin, door_pin = HEADER_PINS[index - CU48_BOARDS * CU48_LOCKS - MCP_BOARDS * MCP_LOCKS]
            wiring = {"board": "header", "lock_pin": lock_pin, "door_pin": door_pin}
        compartments.append(CompartmentConfig.model_validate(common | wiring))
    return BoxConfig(box_id=box_id, boards=tuple(boards), compartments=tuple(compartments))


def mixed_config_toml(box_id: str = "mixed-600") -> str:
    """`generate_mixed_config(box_id)` as TOML, with a header saying how to regenerate it."""
    kerong = CU48_BOARDS * CU48_LOCKS
    header = "\n".join(
        (
            f"docbox box configuration: {MIXED_COUNT} compartments over three board kinds. "
            "GENERATED, do not edit:",
            "  uv run python -m docbox_edge.hardware.layouts > FILE",
            f"Compartments 1-{kerong}: {CU48_BOARDS} Kerong CU48 lock controllers on one RS-485 line "
            f"({RS485_PORT}),",
            "addresses 1-12, channel = lock number on the controller. "
            f"The next {MCP_BOARDS * MCP_LOCKS}: {MCP_BOARDS} MCP23017 expanders",
            "on I²C bus 1 (0x20, 0x21), coil on A0-A7, door sensor on B0-B7. "
            f"The last {len(HEADER_PINS)}: the Pi's GPIO header.",
            "See docs/hardware.md for the wiring; box-small.toml explains the common fields.",
        )
    )
    return generate_mixed_config(box_id).to_toml(header=header)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the mixed example configuration (`python -m docbox_edge.hardware.layouts [BOX_ID]`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.write(mixed_config_toml(*args[:1]))


if __name__ == "__main__":
    main()
