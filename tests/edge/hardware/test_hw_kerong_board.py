"""The real Kerong driver (pyserial) against simulated CU16/CU48 boards on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from docbox_edge.hardware.errors import (
    BoardNotRunning,
    BusError,
    CoilBusy,
    ConfigError,
    HardwareError,
    PulseInterrupted,
    UnknownChannel,
)
from docbox_edge.hardware.kerong import OFFLINE_POLL_EVERY, KerongBus, KerongLockBoard
from docbox_edge.hardware.kerong_codec import KerongModel
from docbox_edge.hardware.kerong_sim import SimulatedKerongBus
from docbox_edge.hardware.lockboard import ChannelFlapping, DoorState
from tests.edge.hardware.hw_support import TIMING_TOLERANCE_S, until
from tests.edge.hardware.kerong_support import POLL_S, REPLY_TIMEOUT_S, UNLOCK_S, Line, requests_served


@pytest.fixture(params=[KerongModel.CU48])
async def line(request: pytest.FixtureRequest) -> AsyncIterator[Line]:
    """A simulated RS-485 line with the real bus driver on it; boards are closed afterwards."""
    sim = SimulatedKerongBus(request.param)
    sim.start()
    bus = KerongBus(sim.path, baudrate=19200)
    bus.open()
    rs485 = Line(sim=sim, bus=bus)
    try:
        yield rs485
    finally:
        for board in rs485.boards:
            await board.close()
        bus.close()
        sim.close()


both_models = pytest.mark.parametrize("line", [KerongModel.CU16, KerongModel.CU48], indirect=True)


@both_models
async def test_hw_kerong_unlock_releases_exactly_that_lock(line: Line) -> None:
    board, sim, _signals = line.add(1)
    await board.start()
    started = time.monotonic()
    pulse = asyncio.create_task(board.pulse(7, 0.2))
    await until(lambda: sim.unlock_count(7) == 1)
    assert board.coil_is_on(7)  # the unlock is in progress until the pulse time has passed
    await pulse
    assert not board.coil_is_on(7)
    assert time.monotonic() - started == pytest.approx(0.2, abs=TIMING_TOLERANCE_S)
    assert [sim.unlock_count(n) for n in range(1, sim.locks + 1) if n != 7] == [0] * (sim.locks - 1)
    # The controller timed the coil itself, once: on for its unlock time, then off.
    coil = sim.coil(7)
    await until(lambda: not coil.state)
    assert coil.on_durations() == [pytest.approx(UNLOCK_S, abs=TIMING_TOLERANCE_S)]


async def test_hw_kerong_the_unlock_reply_carries_per_lock_feedback(line: Line) -> None:
    board, sim, signals = line.add(2)
    sim.feedback(3).drive(False)  # door 3 stands open, the others are shut
    await board.start()
    assert board.door_is_open(3)
    assert not board.door_is_open(4)
    sim.feedback(5).drive(False)
    await board.pulse(5, 0.01)
    status = board.status
    assert status is not None
    assert [n for n in range(1, 49) if not status.is_locked(n)] == [3, 5]
    change = await signals.next_change()
    assert (change.channel, change.state) == (5, DoorState.OPEN)


@both_models
async def test_hw_kerong_polling_reports_doors_debounced(line: Line) -> None:
    board, sim, signals = line.add(3)
    await board.start()
    assert board.hold_s == pytest.approx(1.5 * POLL_S)  # two polls in a row, not 10 ms
    sim.feedback(2).drive(False)
    seen = time.monotonic()
    change = await signals.next_change()
    assert (change.channel, change.state) == (2, DoorState.OPEN)
    assert board.door_is_open(2)
    assert change.at >= seen
    sim.feedback(2).drive(True)
    change = await signals.next_change()
    assert (change.channel, change.state) == (2, DoorState.CLOSED)
    assert not board.door_is_open(2)


async def test_hw_kerong_a_glitch_seen_by_one_poll_is_not_reported(line: Line) -> None:
    # A slower poll than elsewhere: the hold time (1.5 polls) then has room for scheduling
    # delays on a busy test machine, which could otherwise stretch one sample over two.
    board, sim, signals = line.add(4, poll_interval_s=0.1)
    await board.start()
    sim.glitch(6, replies=1)  # one reply says "open", the next ones "shut" again
    await until(lambda: sim.pending_glitches == 0)
    await requests_served(sim, 2)
    await signals.assert_none(board.hold_s)
    assert not board.door_is_open(6)
    sim.glitch(6, replies=4)  # long enough: reported, then back
    assert (await signals.next_change()).state is DoorState.OPEN
    assert (await signals.next_change()).state is DoorState.CLOSED


async def test_hw_kerong_a_chattering_switch_is_reported_as_flapping(line: Line) -> None:
    board, sim, signals = line.add(5, flapping_changes=3)
    await board.start()
    for _ in range(3):
        sim.glitch(1, replies=1)
        await until(lambda: sim.pending_glitches == 0)
        await requests_served(sim, 1)
    signal = await signals.next()
    assert isinstance(signal, ChannelFlapping)
    assert signal.channel == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("garbage", "reply without STX/ETX framing"),
        ("bad_checksum", "reply checksum 0x"),
        ("silence", f"no reply within {REPLY_TIMEOUT_S * 1000:.0f} ms"),
    ],
)
async def test_hw_kerong_bus_errors_are_counted_and_polling_goes_on(
    line: Line, caplog: pytest.LogCaptureFixture, fault: str, reason: str
) -> None:
    board, sim, signals = line.add(6)
    await board.start()
    assert board.online
    with caplog.at_level(logging.WARNING, logger="docbox_edge.hardware.kerong"):
        sim.inject(fault, count=2)  # type: ignore[arg-type]
        await until(lambda: board.bus_errors == 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("board 'kr6' (cu48 address 6 on" in w and "status poll failed" in w for w in warnings)
    assert all(reason in w for w in warnings)
    # The poll loop survived: the next door change is still seen, and the board is back.
    sim.feedback(9).drive(False)
    change = await signals.next_change()
    assert (change.channel, change.state) == (9, DoorState.OPEN)
    assert board.online
    assert board.bus_errors == 2


async def test_hw_kerong_a_dead_board_is_logged_a_few_times_then_counted_quietly(
    line: Line, caplog: pytest.LogCaptureFixture
) -> None:
    board, sim, _signals = line.add(7)
    await board.start()
    with caplog.at_level(logging.INFO, logger="docbox_edge.hardware.kerong"):
        sim.inject("silence", count=5)
        await until(lambda: board.bus_errors >= 2)
        assert not board.online  # 3 more silent replies to go, 50 ms each
        await until(lambda: board.online)
        assert board.bus_errors == 5
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "status poll failed" in m]) == 3
    assert any("4 bus errors in a row; further ones are counted" in m for m in messages)
    assert any("answers again after 5 failed transfers" in m for m in messages)


async def test_hw_kerong_a_dead_board_does_not_slow_the_line_for_the_others(line: Line) -> None:
    dead, dead_sim, _ = line.add(1)
    alive, alive_sim, alive_signals = line.add(2)
    await dead.start()
    await alive.start()
    dead_sim.inject("silence", count=10_000)
    await until(lambda: dead.bus_errors >= 3)
    asked = dead_sim.requests
    await requests_served(alive_sim, 2 * OFFLINE_POLL_EVERY)
    # Each of the dead board's timeouts (50 ms) would hold up every round; it is asked
    # only every tenth round (plus one that may have been under way).
    assert dead_sim.requests - asked <= 3
    alive_sim.feedback(1).drive(False)
    assert (await alive_signals.next_change()).state is DoorState.OPEN


async def test_hw_kerong_a_board_silent_at_start_does_not_stop_the_box(line: Line) -> None:
    board, sim, signals = line.add(8)
    sim.feedback(2).drive(False)
    sim.inject("silence")
    await board.start()  # no exception: the other boards of the box must keep working
    assert board.bus_errors == 1
    assert not board.door_is_open(2)  # unknown until it answers, counted as shut ...
    change = await signals.next_change()  # ... and reported as soon as it answers
    assert (change.channel, change.state) == (2, DoorState.OPEN)


async def test_hw_kerong_an_unconfirmed_unlock_raises_and_is_not_resent(
    line: Line, caplog: pytest.LogCaptureFixture
) -> None:
    board, sim, _signals = line.add(9)
    await board.start()
    # Two silent replies: at most one status poll can be ahead of the unlock on the line.
    sim.inject("silence", count=2)
    with pytest.raises(
        BusError, match=r"unlock of lock 4 not confirmed \(no reply within 50 ms\); not re-sent"
    ):
        await board.pulse(4, 0.1)
    await until(lambda: board.bus_errors == 2)
    assert not board.coil_is_on(4)
    # The board did act; we did not send a second unlock after the lost reply.
    await requests_served(sim, 3)
    assert sim.unlock_count(4) == 1
    assert any("unlock of lock 4 failed" in r.getMessage() for r in caplog.records)


async def test_hw_kerong_several_boards_share_one_line(line: Line) -> None:
    boards = {address: line.add(address) for address in (1, 2, 3)}
    for board, _sim, _signals in boards.values():
        await board.start()
    assert line.bus.boards == [b for b, _, _ in boards.values()]
    board2 = boards[2][0]
    await asyncio.gather(board2.pulse(5, 0.05), boards[1][0].pulse(5, 0.05), boards[3][0].pulse(6, 0.05))
    assert [boards[a][1].unlock_count(5) for a in (1, 2, 3)] == [1, 1, 0]
    assert boards[3][1].unlock_count(6) == 1
    # Only the board whose door moved reports it, with its own channel.
    boards[3][1].feedback(5).drive(False)
    change = await boards[3][2].next_change()
    assert (change.channel, change.state) == (5, DoorState.OPEN)
    await boards[1][2].assert_none(3 * POLL_S)
    await boards[2][2].assert_none(0)
    # Every board is polled, and nothing was garbled by interleaving.
    for _board, sim, _ in boards.values():
        await requests_served(sim, 2)
    assert line.sim.frames_rejected == 0
    assert sum(b.bus_errors for b, _, _ in boards.values()) == 0


async def test_hw_kerong_pulses_are_bounded_refused_when_busy_and_interrupted_by_close(line: Line) -> None:
    board, sim, _signals = line.add(10)
    await board.start()
    started = time.monotonic()
    await board.pulse(1, 60.0)  # clamped to the board's max_pulse_s
    assert time.monotonic() - started <= board.max_pulse_s + TIMING_TOLERANCE_S
    first = asyncio.create_task(board.pulse(2, 0.4))
    await until(lambda: sim.unlock_count(2) == 1)
    with pytest.raises(CoilBusy):
        await board.pulse(2, 0.1)
    await board.close()
    with pytest.raises(PulseInterrupted):
        await first
    with pytest.raises(BoardNotRunning):
        await board.pulse(2, 0.1)


async def test_hw_kerong_misuse_is_refused_with_reasons(line: Line) -> None:
    board, _sim, _signals = line.add(11, channels=[1, 2])
    with pytest.raises(BoardNotRunning, match="not started"):
        await board.pulse(1, 0.1)
    await board.start()
    with pytest.raises(UnknownChannel, match="board 'kr11' has no channel 3"):
        await board.pulse(3, 0.1)
    with pytest.raises(UnknownChannel):
        board.door_is_open(49)
    with pytest.raises(ValueError, match="must be > 0"):
        await board.pulse(1, 0)
    with pytest.raises(ConfigError, match="a cu48 has channels 1-48, not \\[49\\]"):
        KerongLockBoard("bad", line.bus, model=KerongModel.CU48, address=1, channels=[1, 49])
    with pytest.raises(ConfigError, match="a cu16 address is 0-15, not 16"):
        KerongLockBoard("bad", line.bus, model=KerongModel.CU16, address=16, channels=[1])


async def test_hw_kerong_close_stops_polling_and_a_closed_bus_fails_cleanly(line: Line) -> None:
    board, sim, _signals = line.add(12)
    await board.start()
    await requests_served(sim, 2)
    await board.close()
    await board.close()  # idempotent
    assert not line.bus.polling
    served = sim.requests
    await asyncio.sleep(3 * POLL_S)  # nothing to await: this checks that nothing happens
    assert sim.requests == served
    line.bus.close()
    with pytest.raises(BusError, match="is not open"):
        await line.bus.transfer(b"\x02", 12, 0.05)


async def test_hw_kerong_a_failing_port_is_counted_and_reopened(
    line: Line, caplog: pytest.LogCaptureFixture
) -> None:
    board, _sim, _signals = line.add(13)
    await board.start()
    sim_path = line.sim.path
    line.sim.close()  # the adapter is gone: reads fail, the device cannot be reopened
    await until(lambda: board.bus_errors >= 2)
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"RS-485 port {sim_path} failed, reopening it for the next transfer" in m for m in messages)
    assert any(f"cannot open RS-485 port {sim_path}" in m for m in messages)
    assert line.bus.polling  # still trying
    assert not board.online


def test_hw_kerong_a_missing_port_is_a_clear_error() -> None:
    bus = KerongBus("/dev/does-not-exist-rs485")
    with pytest.raises(HardwareError, match="cannot open RS-485 port /dev/does-not-exist-rs485"):
        bus.open()
    bus.close()


async def test_hw_kerong_the_port_is_exclusive(line: Line) -> None:
    # A second process (or a second bus object) on the same line would garble both.
    other = KerongBus(line.sim.path)
    with pytest.raises(HardwareError, match="cannot open RS-485 port"):
        other.open()
    other.close()


@pytest.mark.parametrize("line", [KerongModel.CU16], indirect=True)
async def test_hw_kerong_cu16_reports_its_infrared_sensors(line: Line) -> None:
    board, sim, _signals = line.add(15, channels=[1, 16])
    sim.set_sensor(16, True)
    await board.start()
    status = board.status
    assert status is not None
    assert status.sensors is not None
    assert [n for n in range(1, 17) if status.sensors[n - 1]] == [16]
