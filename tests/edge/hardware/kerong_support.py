"""Helpers for the Kerong driver tests: a simulated RS-485 line and boards on it, fast timings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from docbox_edge.hardware.kerong import KerongBus, KerongLockBoard
from docbox_edge.hardware.kerong_sim import SimulatedKerongBoard, SimulatedKerongBus
from docbox_edge.hardware.lockboard import ChannelChange, ChannelSignal

POLL_S = 0.02
REPLY_TIMEOUT_S = 0.05
DEBOUNCE_S = 0.01
UNLOCK_S = 0.05


@dataclass
class Line:
    """A simulated RS-485 line, the real bus driver on its pseudo-terminal, and the boards."""

    sim: SimulatedKerongBus
    bus: KerongBus
    boards: list[KerongLockBoard] = field(default_factory=list)

    def add(
        self,
        address: int,
        channels: Iterable[int] | None = None,
        *,
        board_id: str | None = None,
        poll_interval_s: float = POLL_S,
        flapping_changes: int = 10,
    ) -> tuple[KerongLockBoard, SimulatedKerongBoard, Signals]:
        """A simulated board at `address` and the driver's board for it (not started)."""
        simulated = self.sim.add_board(address, unlock_time_s=UNLOCK_S)
        signals = Signals()
        board = KerongLockBoard(
            board_id or f"kr{address}",
            self.bus,
            model=self.sim.model,
            address=address,
            channels=range(1, simulated.locks + 1) if channels is None else channels,
            debounce_s=DEBOUNCE_S,
            flapping_changes=flapping_changes,
            flapping_window_s=1.0,
            poll_interval_s=poll_interval_s,
            reply_timeout_s=REPLY_TIMEOUT_S,
            max_pulse_s=0.5,
            on_signal=signals.put,
        )
        self.boards.append(board)
        return board, simulated, signals


class Signals:
    """Collects a board's channel signals; awaitable with deadlines."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[ChannelSignal] = asyncio.Queue()

    def put(self, signal: ChannelSignal) -> None:
        self.queue.put_nowait(signal)

    async def next(self, within_s: float = 2.0) -> ChannelSignal:
        return await asyncio.wait_for(self.queue.get(), within_s)

    async def next_change(self, within_s: float = 2.0) -> ChannelChange:
        signal = await self.next(within_s)
        assert isinstance(signal, ChannelChange), signal
        return signal

    async def assert_none(self, wait_s: float) -> None:
        try:
            signal = await asyncio.wait_for(self.queue.get(), wait_s)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected signal {signal!r}")


async def requests_served(board: SimulatedKerongBoard, count: int, within_s: float = 2.0) -> None:
    """Wait until the simulated board has answered `count` more requests."""
    target = board.requests + count
    async with asyncio.timeout(within_s):
        # Polling: the simulator's thread has no event to await.
        while board.requests < target:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
