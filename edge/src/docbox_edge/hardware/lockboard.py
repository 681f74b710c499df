"""The lock-board interface that every driver (GPIO header, MCP23017, RS-485 controller) implements.

A board knows *channels* (its own lock numbers); `BoxHardware` maps compartments to
(board, channel) and turns channel signals into compartment signals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

PULSE_HARD_MAX_S = 2.0
"""No coil is ever energised longer than this, whatever is configured or requested."""


class DoorState(StrEnum):
    """Debounced state of a compartment door."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class DoorChange:
    """A debounced door transition of a compartment.

    Attributes:
        compartment: Compartment number.
        state: The new state.
        at: `time.monotonic()` when the new state was first seen (before the debounce delay).
    """

    compartment: int
    state: DoorState
    at: float


@dataclass(frozen=True, slots=True)
class DoorFlapping:
    """The door sensor changed too often within the window: its raw input is unreliable.

    Reported once per episode; door changes of that compartment are suppressed until the
    input has been quiet for a whole window, then its state is reported if it changed.

    Attributes:
        compartment: Compartment number.
        changes: Raw edges counted within the window when flapping was detected.
        window_s: Length of the window in seconds.
    """

    compartment: int
    changes: int
    window_s: float


DoorSignal = DoorChange | DoorFlapping


@dataclass(frozen=True, slots=True)
class ChannelChange:
    """A debounced door transition as a board sees it (by channel); see `DoorChange`."""

    channel: int
    state: DoorState
    at: float


@dataclass(frozen=True, slots=True)
class ChannelFlapping:
    """Door sensor flapping as a board sees it (by channel); see `DoorFlapping`."""

    channel: int
    changes: int
    window_s: float


ChannelSignal = ChannelChange | ChannelFlapping
ChannelSignalHandler = Callable[[ChannelSignal], None]


class LockBoard(Protocol):
    """One physical lock board: coils to pulse and door sensors to watch, addressed by channel.

    All methods are called from the asyncio event loop thread. Signals are delivered to the
    handler on that thread too, in the order they happened.
    """

    board_id: str

    def set_signal_handler(self, handler: ChannelSignalHandler | None) -> None:
        """Set the callback that receives debounced door changes and flapping reports."""
        ...

    async def start(self) -> None:
        """Switch all outputs off, then begin watching the door inputs."""
        ...

    async def pulse(self, channel: int, duration_s: float) -> None:
        """Energise one coil for `duration_s` (clamped to the board maximum); return once it is off."""
        ...

    def door_is_open(self, channel: int) -> bool:
        """Debounced door state of one channel."""
        ...

    def coil_is_on(self, channel: int) -> bool:
        """Whether the coil of one channel is energised right now (diagnostics, tests)."""
        ...

    async def close(self) -> None:
        """Switch all outputs off and release the pins; idempotent."""
        ...
