"""Small box configurations on MCP23017 expanders and Kerong controllers, with fast timings."""

from __future__ import annotations

from typing import Any

from docbox_edge.boxconfig import BoxConfig


def mcp_config(
    chips: int = 1,
    per_chip: int = 8,
    *,
    pulse_ms: int = 60,
    debounce_ms: int = 30,
    lock_active_high: bool = True,
    poll_interval_ms: int = 2,
) -> BoxConfig:
    """Compartments 1.. on MCP23017 chips at 0x20.. of bus 1: coil on A<n>, door on B<n>."""
    boards = [
        {
            "kind": "mcp23017",
            "id": f"mcp{chip}",
            "bus": 1,
            "address": 0x20 + chip,
            "lock_active_high": lock_active_high,
            "poll_interval_ms": poll_interval_ms,
        }
        for chip in range(chips)
    ]
    compartments = [
        _compartment(chip * per_chip + pin + 1, board=f"mcp{chip}", lock_pin=f"A{pin}", door_pin=f"B{pin}")
        for chip in range(chips)
        for pin in range(per_chip)
    ]
    return _config(boards, compartments, pulse_ms=pulse_ms, debounce_ms=debounce_ms)


def kerong_config(
    boards: int = 2,
    per_board: int = 4,
    *,
    model: str = "cu48",
    pulse_ms: int = 60,
    debounce_ms: int = 10,
    poll_interval_ms: int = 20,
) -> BoxConfig:
    """Compartments 1.. on Kerong boards at addresses 1.. of one RS-485 line."""
    board_tables = [
        {
            "kind": "kerong",
            "id": f"kr{address}",
            "model": model,
            "port": "/dev/ttyUSB0",
            "address": address,
            "poll_interval_ms": poll_interval_ms,
            "reply_timeout_ms": 50,
        }
        for address in range(1, boards + 1)
    ]
    compartments = [
        _compartment((address - 1) * per_board + lock, board=f"kr{address}", channel=lock)
        for address in range(1, boards + 1)
        for lock in range(1, per_board + 1)
    ]
    return _config(board_tables, compartments, pulse_ms=pulse_ms, debounce_ms=debounce_ms)


def _compartment(number: int, **wiring: Any) -> dict[str, Any]:
    return {"number": number, "size": "M", "height_cm": 60 + number % 10 * 10, **wiring}


def _config(
    boards: list[dict[str, Any]], compartments: list[dict[str, Any]], *, pulse_ms: int, debounce_ms: int
) -> BoxConfig:
    return BoxConfig.from_mapping(
        {
            "box_id": "bus-box",
            "defaults": {"pulse_ms": pulse_ms, "debounce_ms": debounce_ms, "flapping_window_ms": 1000},
            "boards": boards,
            "compartments": compartments,
        }
    )
