"""BoxHardware on a simulated box: compartments, pulses, door signals, people and faults."""

from __future__ import annotations

import asyncio
import time

import pytest

from docbox_edge.boxconfig import BoxConfig
from docbox_edge.hardware.box import BoxHardware, build_hardware
from docbox_edge.hardware.errors import (
    CoilBusy,
    ConfigError,
    PulseInterrupted,
    UnknownCompartment,
)
from docbox_edge.hardware.lockboard import (
    ChannelSignalHandler,
    DoorChange,
    DoorFlapping,
    DoorState,
)
from docbox_edge.hardware.mockpins import ExtendedMockFactory
from docbox_edge.hardware.simulated import SimulatedBox
from tests.edge.hardware.hw_support import (
    TIMING_TOLERANCE_S,
    MakeRig,
    Rig,
    level_event,
    on_durations,
    sim_config,
    until,
)


def _large(config: BoxConfig) -> int:
    return next(c.number for c in config.compartments if c.pulse_ms is not None)


def _default(config: BoxConfig) -> int:
    return next(c.number for c in config.compartments if c.pulse_ms is None)


async def test_compartments_are_listed_in_order(rig: Rig) -> None:
    assert list(rig.hardware.compartments) == list(range(1, 9))


async def test_a_pulse_uses_the_compartments_configured_length(make_rig: MakeRig) -> None:
    rig = await make_rig(sim_config(pulse_ms=30))
    for number, expected in ((_default(rig.config), 0.030), (_large(rig.config), 0.400)):
        lock = rig.lock_pin(number)
        lock.clear_states()
        await rig.hardware.pulse(number)
        [on_for] = on_durations(lock)
        assert expected - 0.005 <= on_for <= expected + TIMING_TOLERANCE_S
        assert rig.hardware.coil_is_on(number) is False


async def test_a_second_pulse_of_the_same_lock_is_refused_while_the_first_runs(rig: Rig) -> None:
    first = asyncio.create_task(rig.hardware.pulse(1))
    await asyncio.wait_for(level_event(rig.lock_pin(1), True).wait(), 2.0)
    assert rig.hardware.coil_is_on(1) is True
    with pytest.raises(CoilBusy):
        await rig.hardware.pulse(1)
    await rig.hardware.pulse(2)  # other locks are independent
    await first
    assert len(on_durations(rig.lock_pin(1))) == 1


async def test_unknown_compartments_are_refused(rig: Rig) -> None:
    with pytest.raises(UnknownCompartment) as caught:
        await rig.hardware.pulse(99)
    assert caught.value.compartment == 99
    with pytest.raises(UnknownCompartment):
        rig.hardware.door_is_open(0)
    with pytest.raises(UnknownCompartment):
        rig.hardware.coil_is_on(99)


async def test_the_door_cannot_open_without_a_pulse(rig: Rig) -> None:
    assert rig.sim.person_opens(3) is False
    assert rig.sim.door_is_open(3) is False
    assert rig.hardware.door_is_open(3) is False
    await rig.assert_no_signal(0.05)


async def test_a_pulse_releases_the_latch_and_shutting_relocks_it(rig: Rig) -> None:
    await rig.hardware.pulse(3)
    assert rig.sim.is_latched(3) is False
    assert rig.sim.person_opens(3) is True
    opened = await rig.next_change()
    assert (opened.compartment, opened.state) == (3, DoorState.OPEN)
    assert rig.hardware.door_is_open(3) is True
    rig.sim.person_shuts(3)
    closed = await rig.next_change()
    assert (closed.compartment, closed.state) == (3, DoorState.CLOSED)
    assert closed.at > opened.at
    assert rig.sim.is_latched(3) is True
    assert rig.sim.person_opens(3) is False  # locked again


async def test_an_automatic_person_opens_and_shuts_after_a_pulse(rig: Rig) -> None:
    rig.sim.auto_person(open_after_s=0.05, shut_after_s=0.08, compartments=[5])
    pulsed_at = time.monotonic()
    await rig.hardware.pulse(5)
    opened = await rig.next_change()
    closed = await rig.next_change()
    assert opened == DoorChange(5, DoorState.OPEN, opened.at)
    assert closed == DoorChange(5, DoorState.CLOSED, closed.at)
    assert opened.at - pulsed_at >= 0.05
    assert closed.at - opened.at >= 0.08
    assert rig.sim.pulse_count(5) == 1
    assert rig.sim.is_latched(5) is True


async def test_an_automatic_person_may_leave_the_door_open(rig: Rig) -> None:
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=None)
    await rig.hardware.pulse(2)
    opened = await rig.next_change()
    assert opened == DoorChange(2, DoorState.OPEN, opened.at)
    await rig.assert_no_signal(0.05)
    assert rig.sim.door_is_open(2) is True


async def test_stopping_the_automatic_person_cancels_the_visit(rig: Rig) -> None:
    rig.sim.auto_person(open_after_s=0.08, shut_after_s=0.02)
    pulse = asyncio.create_task(rig.hardware.pulse(4))
    await asyncio.wait_for(level_event(rig.lock_pin(4), True).wait(), 2.0)
    rig.sim.stop_auto_person()  # the visit was already planned
    await pulse
    await rig.assert_no_signal(0.12)
    assert rig.sim.door_is_open(4) is False


async def test_a_forced_door_is_reported_open_without_any_pulse(rig: Rig) -> None:
    rig.sim.force_open(6)
    forced = await rig.next_change()
    assert forced == DoorChange(6, DoorState.OPEN, forced.at)
    assert rig.sim.pulse_count(6) == 0
    assert on_durations(rig.lock_pin(6)) == []


async def test_a_jammed_latch_does_not_open(rig: Rig) -> None:
    rig.sim.jam(7)
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=0.01, compartments=[7])
    await rig.hardware.pulse(7)
    assert rig.sim.pulse_count(7) == 1
    await rig.assert_no_signal(0.06)
    assert rig.sim.door_is_open(7) is False
    rig.sim.unjam(7)
    await rig.hardware.pulse(7)
    opened = await rig.next_change()
    assert opened == DoorChange(7, DoorState.OPEN, opened.at)


async def test_a_chattering_sensor_is_reported_as_flapping_once(make_rig: MakeRig) -> None:
    # Debounce 60 ms against 2 ms edges: even a loaded machine that delays a timer by tens of
    # milliseconds cannot let a chattering level look stable before flapping is detected.
    rig = await make_rig(sim_config(debounce_ms=60, flapping_changes=5, flapping_window_ms=100))
    rig.sim.chatter(8, edges=20, interval_s=0.002)
    flapping = await rig.next_signal()
    assert flapping == DoorFlapping(compartment=8, changes=6, window_s=0.1)
    # The sensor returns to "closed", where it started: once calm, nothing else is said ...
    await rig.assert_no_signal(0.3)
    assert rig.hardware.door_is_open(8) is False
    # ... and real door changes are reported again.
    await rig.hardware.pulse(8)
    rig.sim.person_opens(8)
    opened = await rig.next_change()
    assert opened == DoorChange(8, DoorState.OPEN, opened.at)


async def test_a_glitch_shorter_than_the_debounce_time_is_ignored(rig: Rig) -> None:
    rig.sim.glitch(1, duration_s=0.002)  # debounce is 10 ms
    await rig.assert_no_signal(0.05)
    assert rig.hardware.door_is_open(1) is False


async def test_signals_wait_for_their_reader_in_order(rig: Rig) -> None:
    await rig.hardware.pulse(1)
    await rig.hardware.pulse(2)
    rig.sim.person_opens(1)
    await asyncio.sleep(0.03)  # let the first opening settle before the second
    rig.sim.person_opens(2)
    rig.sim.force_open(3)
    await until(lambda: rig.hardware.door_is_open(3))
    got = [await rig.next_signal() for _ in range(3)]
    assert [(s.compartment, s.state) for s in got if isinstance(s, DoorChange)] == [
        (1, DoorState.OPEN),
        (2, DoorState.OPEN),
        (3, DoorState.OPEN),
    ]


async def test_signals_end_after_close(factory: ExtendedMockFactory) -> None:
    config = sim_config(count=2)
    sim = SimulatedBox(config, factory)
    hardware = build_hardware(config, factory)
    await hardware.start()
    sim.force_open(1)
    await until(lambda: hardware.door_is_open(1))
    await hardware.close()
    sim.close()
    received = [s async for s in hardware.signals()]
    assert [type(s) for s in received] == [DoorChange]  # queued before close: still delivered


async def test_start_and_close_switch_every_output_off(factory: ExtendedMockFactory) -> None:
    config = sim_config(count=4)
    hardware = build_hardware(config, factory)
    locks = [factory.pin(c.lock_pin) for c in config.compartments]
    locks[2].state = True  # left on by whatever ran before
    await hardware.start()
    assert [p.state for p in locks] == [False] * 4
    task = asyncio.create_task(hardware.pulse(2))
    await asyncio.wait_for(level_event(locks[1], True).wait(), 2.0)
    await hardware.close()
    assert [p.state for p in locks] == [False] * 4
    with pytest.raises(PulseInterrupted):
        await task


class _Board:
    """A lock board fake that records its life cycle."""

    def __init__(self, board_id: str, *, fail_start: bool = False) -> None:
        self.board_id = board_id
        self.fail_start = fail_start
        self.closed = False
        self.handler: ChannelSignalHandler | None = None

    def set_signal_handler(self, handler: ChannelSignalHandler | None) -> None:
        self.handler = handler

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError("board on fire")

    async def pulse(self, channel: int, duration_s: float) -> None:
        pass

    def door_is_open(self, channel: int) -> bool:
        return False

    def coil_is_on(self, channel: int) -> bool:
        return False

    async def close(self) -> None:
        self.closed = True


async def test_when_a_board_fails_to_start_all_boards_are_closed() -> None:
    config = sim_config(count=2)
    board = _Board("sim", fail_start=True)
    hardware = BoxHardware(config, {"sim": board})
    with pytest.raises(RuntimeError, match="board on fire"):
        await hardware.start()
    assert board.closed is True


def test_every_configured_board_must_be_given() -> None:
    with pytest.raises(ConfigError, match="sim"):
        BoxHardware(sim_config(count=2), {})


async def test_a_thousand_compartment_box_builds_fast_and_works(make_rig: MakeRig) -> None:
    config = sim_config(count=1000)
    started = time.perf_counter()
    rig = await make_rig(config)
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0  # ~0.2 s here, including 2,000 gpiozero devices
    assert len(rig.hardware.compartments) == 1000
    assert len(rig.factory.pins) == 2000
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=0.01, compartments=[1000])
    await rig.hardware.pulse(1000)
    opened = await rig.next_change()
    closed = await rig.next_change()
    assert (opened, closed) == (
        DoorChange(1000, DoorState.OPEN, opened.at),
        DoorChange(1000, DoorState.CLOSED, closed.at),
    )
