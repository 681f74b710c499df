"""The door/lock state machine: attribution of openings, alarms, snapshots."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import pytest

from docbox_edge.compartments import Compartments
from docbox_edge.hardware.lockboard import DoorChange, DoorFlapping, DoorState
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    DoorClosed,
    DoorOpened,
    DoorPosition,
    EventData,
)

E = TypeVar("E", bound=EventData)


@dataclass(frozen=True)
class Info:
    number: int
    size: str | None = "M"
    height_cm: int | None = 40


class Recorder:
    def __init__(self) -> None:
        self.events: list[EventData] = []
        self.changed = asyncio.Event()

    def __call__(self, data: EventData, at: datetime) -> None:
        self.events.append(data)
        self.changed.set()

    async def wait_for(self, kind: type[E], within: float = 2.0) -> E:
        async with asyncio.timeout(within):
            while True:
                for event in self.events:
                    if isinstance(event, kind):
                        return event
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def events() -> Recorder:
    return Recorder()


@pytest.fixture
def machine(events: Recorder) -> Iterator[Compartments]:
    compartments = Compartments([Info(1), Info(2, "S", 20), Info(3)], events, left_open_s=60)
    compartments.load(lambda n: False)
    yield compartments
    compartments.close()


def opened(n: int, at: float | None = None) -> DoorChange:
    return DoorChange(n, DoorState.OPEN, time.monotonic() if at is None else at)


def closed(n: int, at: float | None = None) -> DoorChange:
    return DoorChange(n, DoorState.CLOSED, time.monotonic() if at is None else at)


async def test_opening_after_release_is_attributed_to_the_command(
    machine: Compartments, events: Recorder
) -> None:
    command_id = uuid.uuid4()
    waiter = machine.release(1, command_id)
    assert not machine.snapshot()[0].locked

    machine.handle(opened(1, at=100.0))
    assert waiter.done()
    machine.handle(closed(1, at=101.5))

    assert events.events == [
        DoorOpened(compartment=1, command_id=command_id),
        DoorClosed(compartment=1, open_ms=1500),
    ]
    state = machine.snapshot()[0]
    assert state.door is DoorPosition.CLOSED
    assert state.locked
    assert state.alarms == []


async def test_opening_without_release_is_forced_and_alarmed_until_closed(
    machine: Compartments, events: Recorder
) -> None:
    machine.handle(opened(2))
    assert machine.alarms(2) == [AlarmKind.FORCED_OPEN]
    machine.handle(closed(2))
    assert events.events[0] == DoorOpened(compartment=2, forced=True)
    assert events.events[1] == AlarmRaised(
        compartment=2, alarm=AlarmKind.FORCED_OPEN, active=True, detail="opened without an unlock"
    )
    assert isinstance(events.events[2], DoorClosed)
    assert events.events[3] == AlarmRaised(compartment=2, alarm=AlarmKind.FORCED_OPEN, active=False)
    assert machine.alarms(2) == []


async def test_relock_after_a_release_without_opening(machine: Compartments, events: Recorder) -> None:
    waiter = machine.release(3, uuid.uuid4())
    machine.relock(3, waiter)
    assert waiter.cancelled()
    machine.handle(opened(3))
    assert events.events[0] == DoorOpened(compartment=3, forced=True)


async def test_left_open_alarm_is_raised_by_timer_and_cleared_on_close(events: Recorder) -> None:
    machine = Compartments([Info(1)], events, left_open_s=0.05)
    machine.load(lambda n: False)
    try:
        machine.release(1, uuid.uuid4())
        machine.handle(opened(1))
        alarm = await events.wait_for(AlarmRaised)
        assert alarm == AlarmRaised(
            compartment=1, alarm=AlarmKind.LEFT_OPEN, active=True, detail=alarm.detail
        )
        machine.handle(closed(1))
        assert events.events[-1] == AlarmRaised(compartment=1, alarm=AlarmKind.LEFT_OPEN, active=False)
    finally:
        machine.close()


async def test_left_open_timer_is_cancelled_by_closing(events: Recorder) -> None:
    machine = Compartments([Info(1)], events, left_open_s=0.05)
    machine.load(lambda n: False)
    try:
        machine.release(1, uuid.uuid4())
        machine.handle(opened(1))
        machine.handle(closed(1))
        await asyncio.sleep(0.1)  # longer than left_open_s: proving an absence needs a wait
        assert not any(isinstance(e, AlarmRaised) for e in events.events)
    finally:
        machine.close()


async def test_flapping_is_raised_once_and_cleared_after_quiet(events: Recorder) -> None:
    machine = Compartments([Info(1)], events, flapping_clear_s=0.05)
    machine.load(lambda n: False)
    try:
        machine.handle(DoorFlapping(1, changes=12, window_s=2.0))
        machine.handle(DoorFlapping(1, changes=14, window_s=2.0))
        raised = [e for e in events.events if isinstance(e, AlarmRaised)]
        assert raised == [
            AlarmRaised(compartment=1, alarm=AlarmKind.FLAPPING, active=True, detail="12 changes in 2 s")
        ]
        events.changed.clear()
        async with asyncio.timeout(2):
            while machine.alarms(1):
                await events.changed.wait()
                events.changed.clear()
        assert events.events[-1] == AlarmRaised(compartment=1, alarm=AlarmKind.FLAPPING, active=False)
    finally:
        machine.close()


async def test_jammed_alarm_cleared_by_next_confirmed_opening(
    machine: Compartments, events: Recorder
) -> None:
    machine.jammed(1, "door did not open")
    assert machine.alarms(1) == [AlarmKind.JAMMED]
    machine.release(1, uuid.uuid4())
    machine.handle(opened(1))
    assert machine.alarms(1) == []
    assert events.events[-1] == AlarmRaised(compartment=1, alarm=AlarmKind.JAMMED, active=False)


async def test_initial_open_door_is_reported_in_the_snapshot_without_events(events: Recorder) -> None:
    machine = Compartments([Info(1), Info(2)], events)
    machine.load(lambda n: n == 2)
    try:
        assert [s.door for s in machine.snapshot()] == [DoorPosition.CLOSED, DoorPosition.OPEN]
        assert machine.doors_open() == 1
        assert events.events == []
    finally:
        machine.close()


async def test_snapshot_carries_size_and_height(machine: Compartments) -> None:
    second = machine.snapshot()[1]
    assert (second.number, second.size, second.height_cm) == (2, "S", 20)


async def test_duplicate_and_unknown_signals_are_ignored(machine: Compartments, events: Recorder) -> None:
    machine.handle(closed(1))  # already closed
    machine.handle(opened(99))
    assert events.events == []
