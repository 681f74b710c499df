"""The GPIO lock board on mock pins: outputs off, bounded pulses, debounced doors, wiring."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from gpiozero import OutputDevice

from docbox_edge.hardware.errors import (
    BoardNotRunning,
    ConfigError,
    PulseInterrupted,
    UnknownChannel,
)
from docbox_edge.hardware.gpio import GpioLockBoard
from docbox_edge.hardware.lockboard import (
    PULSE_HARD_MAX_S,
    ChannelChange,
    ChannelSignal,
    DoorState,
)
from docbox_edge.hardware.mockpins import ExtendedMockFactory, SimulatedPin
from tests.edge.hardware.hw_support import TIMING_TOLERANCE_S, level_event, on_durations

CHANNELS = {1: ("GPIO28", "GPIO29"), 2: ("GPIO30", "GPIO31"), 3: ("GPIO32", "GPIO33")}

MakeBoard = Callable[..., GpioLockBoard]


@pytest.fixture
async def make_board(factory: ExtendedMockFactory) -> AsyncIterator[MakeBoard]:
    boards: list[GpioLockBoard] = []

    def make(**kwargs: object) -> GpioLockBoard:
        options: dict[str, object] = {"pin_factory": factory, "debounce_s": 0.01}
        options.update(kwargs)
        board = GpioLockBoard("b1", CHANNELS, **options)  # type: ignore[arg-type]
        boards.append(board)
        return board

    yield make
    for board in boards:
        await board.close()


def pin(factory: ExtendedMockFactory, name: str) -> SimulatedPin:
    found = factory.pin(name)
    assert isinstance(found, SimulatedPin)
    return found


async def test_outputs_are_off_after_construction_start_and_close(
    factory: ExtendedMockFactory, make_board: MakeBoard
) -> None:
    board = make_board()
    locks = [pin(factory, lock) for lock, _door in CHANNELS.values()]
    assert [p.state for p in locks] == [False, False, False]
    # Something drives a coil before start (a crash, a stray write): start switches it off.
    locks[1].state = True
    assert board.coil_is_on(2) is True
    await board.start()
    assert [p.state for p in locks] == [False, False, False]
    energised = level_event(locks[0], True)
    task = asyncio.create_task(board.pulse(1, 1.0))
    await asyncio.wait_for(energised.wait(), 2.0)
    await board.close()  # mid-pulse
    assert [p.state for p in locks] == [False, False, False]
    with pytest.raises(PulseInterrupted):
        await asyncio.wait_for(task, 0.5)  # at once, not after the requested second
    assert locks[0].state is False
    assert board.coil_is_on(1) is False


async def test_active_low_outputs_are_high_when_off(
    factory: ExtendedMockFactory, make_board: MakeBoard
) -> None:
    board = make_board(lock_active_high=False)
    lock = pin(factory, "GPIO28")
    assert lock.state is True  # off
    await board.start()
    lock.clear_states()
    await board.pulse(1, 0.02)
    [low_for] = on_durations(lock, on_level=False)
    assert low_for <= 0.02 + TIMING_TOLERANCE_S
    assert lock.state is True
    await board.close()
    assert lock.state is True


async def test_pulses_are_capped_at_the_board_maximum(
    factory: ExtendedMockFactory, make_board: MakeBoard
) -> None:
    board = make_board(max_pulse_s=0.03)
    await board.start()
    lock = pin(factory, "GPIO30")
    lock.clear_states()
    await asyncio.wait_for(board.pulse(2, 10.0), 2.0)
    [on_for] = on_durations(lock)
    assert on_for <= 0.03 + TIMING_TOLERANCE_S


def test_no_board_allows_more_than_the_hard_maximum(make_board: MakeBoard) -> None:
    board = make_board(max_pulse_s=60.0)
    assert board.max_pulse_s == PULSE_HARD_MAX_S


@pytest.mark.parametrize(
    ("pull_up", "open_when_active", "open_level"),
    [(True, False, True), (True, True, False), (False, False, False), (False, True, True)],
)
async def test_door_wiring_options(
    factory: ExtendedMockFactory,
    make_board: MakeBoard,
    pull_up: bool,
    open_when_active: bool,
    open_level: bool,
) -> None:
    door = pin(factory, "GPIO29")
    door.drive(not open_level)  # shut before the board starts
    signals: asyncio.Queue[ChannelSignal] = asyncio.Queue()
    board = make_board(
        door_pull_up=pull_up, door_open_when_active=open_when_active, on_signal=signals.put_nowait
    )
    await board.start()
    assert board.door_is_open(1) is False
    door.drive(open_level)
    change = await asyncio.wait_for(signals.get(), 2.0)
    assert isinstance(change, ChannelChange)
    assert (change.channel, change.state) == (1, DoorState.OPEN)
    assert board.door_is_open(1) is True


async def test_the_initial_door_state_is_read_at_start_without_a_signal(
    factory: ExtendedMockFactory, make_board: MakeBoard
) -> None:
    pin(factory, "GPIO31").drive(True)  # channel 2 open (pulled-up input high)
    for _lock, door in (CHANNELS[1], CHANNELS[3]):
        pin(factory, door).drive(False)
    signals: list[ChannelSignal] = []
    board = make_board(on_signal=signals.append)
    await board.start()
    assert [board.door_is_open(ch) for ch in (1, 2, 3)] == [False, True, False]
    await asyncio.sleep(0.03)  # longer than the debounce time: nothing to report
    assert signals == []


async def test_use_before_start_and_after_close_is_refused(make_board: MakeBoard) -> None:
    board = make_board()
    with pytest.raises(BoardNotRunning, match="not started"):
        board.door_is_open(1)
    with pytest.raises(BoardNotRunning, match="not started"):
        await board.pulse(1, 0.01)
    await board.start()
    await board.close()
    with pytest.raises(BoardNotRunning, match="closed"):
        await board.pulse(1, 0.01)
    with pytest.raises(BoardNotRunning, match="closed"):
        await board.start()


async def test_unknown_channels_are_refused(make_board: MakeBoard) -> None:
    board = make_board()
    await board.start()
    with pytest.raises(UnknownChannel, match="board 'b1' has no channel 9"):
        await board.pulse(9, 0.01)
    with pytest.raises(UnknownChannel):
        board.door_is_open(9)


def test_an_invalid_pin_is_a_config_error_and_nothing_stays_reserved(
    factory: ExtendedMockFactory,
) -> None:
    channels = {1: ("GPIO28", "GPIO29"), 2: ("GPIO30", "GPIO99999")}
    with pytest.raises(ConfigError, match=r"board 'b1' channel 2 .*GPIO99999"):
        GpioLockBoard("b1", channels, pin_factory=factory)
    # Everything built before the failure was released again.
    device = OutputDevice("GPIO28", pin_factory=factory)
    device.close()


def test_a_pin_used_twice_is_a_config_error(factory: ExtendedMockFactory) -> None:
    channels = {1: ("GPIO28", "GPIO29"), 2: ("GPIO30", "BCM29")}  # BCM29 is GPIO29
    with pytest.raises(ConfigError, match="channel 2"):
        GpioLockBoard("b1", channels, pin_factory=factory)
