"""A simulated day of two pickup boxes, fed through the cloud's real ingest, alarm service and
telemetry writer into a real InfluxDB, with the truth every dashboard panel must show.

The day ends "now" (so that Grafana's "now" panels see its end). Each message goes the way
the MQTT bridge sends it: stored by :mod:`docbox_cloud.ingest`, then handed to the ingest
observers (:class:`TelemetryObserver`, :class:`AlarmService`). The pickup workflow's points
(pickups, loads, occupancy) are written through the same writer, as that workflow does.

box-a (12 compartments): pickups and loads all day; compartment 7 jams once and then opens;
compartment 3 jams three times (defective, still jammed at the end); compartment 5 is forced
open and shut; compartment 11's sensor flaps for a while; compartment 9 is opened two hours
before the end and left open. box-b (6 compartments): fewer pickups; its outbox backs up
in the last hours, then its last will arrives.
"""

from __future__ import annotations

import inspect
import math
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud import boxes, ingest
from docbox_cloud.alarms.service import AlarmPolicy, AlarmService
from docbox_cloud.db import transaction
from docbox_cloud.observers import IngestObserver, notify_observers
from docbox_cloud.telemetry import points
from docbox_cloud.telemetry.observer import TelemetryObserver
from docbox_cloud.telemetry.state import StateReporter
from docbox_cloud.telemetry.writer import TelemetryWriter
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    BoxState,
    BoxStatus,
    CommandOutcome,
    CommandResult,
    CompartmentState,
    DoorClosed,
    DoorOpened,
    DoorPosition,
    Event,
    EventData,
    LockPulsed,
    StateSnapshot,
    Telemetry,
)

BOXES = {"box-a": 12, "box-b": 6}
SPECIAL = {3, 5, 7, 9, 11}  # box-a compartments with a story of their own
PULSE_MS = 300
TELEMETRY_EVERY = timedelta(minutes=10)
#: Jam retry: the edge pulses again after this, and gives up after twice this.
JAM_RETRY = timedelta(seconds=8)


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour of ``at`` (InfluxDB's GROUP BY time(1h) buckets)."""
    return at.replace(minute=0, second=0, microsecond=0)


@dataclass
class Truth:
    """What the day produced, as the dashboards must show it."""

    start: datetime
    end: datetime
    pickups: Counter[datetime] = field(default_factory=Counter)  # per hour, all boxes
    loads: Counter[datetime] = field(default_factory=Counter)
    pickups_by_box: Counter[str] = field(default_factory=Counter)
    loads_by_box: Counter[str] = field(default_factory=Counter)
    openings: Counter[datetime] = field(default_factory=Counter)  # door openings per hour
    pulses: Counter[datetime] = field(default_factory=Counter)  # per hour
    pulses_by_compartment: Counter[tuple[str, int]] = field(default_factory=Counter)
    results: dict[tuple[str, int], list[int]] = field(default_factory=lambda: defaultdict(list))  # 1 = jammed
    outcomes: Counter[str] = field(default_factory=Counter)
    delays: list[float] = field(default_factory=list)
    occupied: dict[str, int] = field(default_factory=dict)
    doors_open: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    online: dict[str, int] = field(default_factory=dict)
    active_alarms: set[tuple[str, int | None, str]] = field(default_factory=set)
    samples: dict[str, list[Telemetry]] = field(default_factory=lambda: defaultdict(list))
    raised: Counter[str] = field(default_factory=Counter)  # alarm kind -> times raised
    cleared: Counter[str] = field(default_factory=Counter)
    max_outbox: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_bus_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def jam_rate(self, box: str, number: int) -> float:
        results = self.results[(box, number)]
        return sum(results) / len(results)


@dataclass(order=True)
class _Step:
    at: datetime
    order: int
    action: Callable[[], object] = field(compare=False)


class SimulatedDay:
    """Builds the day's timeline and plays it through ingest and the observers."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writer: TelemetryWriter,
        *,
        end: datetime | None = None,
        seed: int = 5,
    ) -> None:
        self.sessions = sessions
        self.writer = writer
        end = (end or datetime.now(UTC)).replace(microsecond=0)
        self.truth = Truth(start=end - timedelta(hours=24), end=end)
        self.rng = random.Random(seed)
        self.alarms = AlarmService(
            sessions, policy=AlarmPolicy(offline_grace_s=0, defective_jams=3), writer=writer
        )
        self.observers: tuple[IngestObserver, ...] = (TelemetryObserver(writer, sessions), self.alarms)
        self.seq: dict[str, int] = defaultdict(int)
        self.steps: list[_Step] = []
        self.order = 0
        self.released: dict[tuple[str, int], uuid.UUID] = {}

    # ------------------------------------------------------------------ timeline

    def at(self, hours: float) -> datetime:
        """A moment of the day, ``hours`` after its start."""
        return self.truth.start + timedelta(hours=hours)

    def schedule(self, at: datetime, action: Callable[[], object]) -> None:
        self.order += 1
        self.steps.append(_Step(at, self.order, action))

    def event(self, box: str, at: datetime, data: EventData) -> None:
        self.schedule(at, lambda: self._event(box, at, data))

    def unlock(
        self, box: str, at: datetime, number: int, *, jammed: bool = False, shut_after_s: float = 25
    ) -> datetime:
        """An unlock: pulse(s), then the door opens (and shuts), or jams. Returns when it ended."""
        command = uuid.uuid4()
        self.event(box, at, LockPulsed(compartment=number, command_id=command, pulse_ms=PULSE_MS))
        if jammed:
            self.event(
                box, at + JAM_RETRY, LockPulsed(compartment=number, command_id=command, pulse_ms=PULSE_MS)
            )
            end = at + 2 * JAM_RETRY
            self.event(
                box, end, CommandResult(command_id=command, compartment=number, outcome=CommandOutcome.JAMMED)
            )
            self.event(box, end, AlarmRaised(compartment=number, alarm=AlarmKind.JAMMED, active=True))
            return end
        delay = round(self.rng.uniform(0.4, 2.6), 3)
        opened = at + timedelta(seconds=delay)
        self.truth.delays.append(delay)
        self.event(box, opened, DoorOpened(compartment=number, command_id=command))
        self.event(
            box, opened, CommandResult(command_id=command, compartment=number, outcome=CommandOutcome.OPENED)
        )
        if shut_after_s <= 0:
            return opened
        shut = opened + timedelta(seconds=shut_after_s)
        self.event(box, shut, DoorClosed(compartment=number, open_ms=int(shut_after_s * 1000)))
        return shut

    def build(self) -> None:
        """Lay out the whole day."""
        for box, count in BOXES.items():
            self.schedule(self.at(0), partial(self._status, box, BoxState.ONLINE))
            self.schedule(self.at(0), partial(self._birth_snapshot, box, count))
            self.truth.occupied[box] = 4 if box == "box-a" else 2
            self._occupancy(box, self.at(0), self.truth.occupied[box])
        self._workflow()
        self._box_a_stories()
        self._box_b_story()
        self._telemetry()

    def _workflow(self) -> None:
        occupied = dict(self.truth.occupied)
        for box, count in BOXES.items():
            ordinary = [n for n in range(1, count + 1) if box != "box-a" or n not in SPECIAL]
            busy = 3 if box == "box-a" else 1
            for hour in range(1, 22):
                for slot in range(self.rng.randint(0, busy) + 1):
                    at = self.at(hour + (slot * 12 + self.rng.randint(0, 10)) / 60)
                    number = self.rng.choice(ordinary)
                    full = occupied[box] >= count
                    is_pickup = occupied[box] > 0 and (full or self.rng.random() < 0.55)
                    occupied[box] += -1 if is_pickup else 1
                    shut = self.unlock(box, at, number)
                    self.schedule(shut, partial(self._work, box, number, shut, is_pickup, occupied[box]))

    def _box_a_stories(self) -> None:
        box = "box-a"
        # Compartment 7: jams once, opens on the next try (which clears the jam).
        self.unlock(box, self.at(4), 7, jammed=True)
        self.unlock(box, self.at(6), 7)
        # Compartment 3: three jams within the day -> defective; jammed at the end.
        for hour in (8, 12, 20):
            self.unlock(box, self.at(hour), 3, jammed=True)
        for hour in (9, 13):
            self.unlock(box, self.at(hour), 3)
        # Compartment 5: forced open, shut two minutes later.
        forced = self.at(10.5)
        self.event(box, forced, DoorOpened(compartment=5, forced=True))
        self.event(box, forced, AlarmRaised(compartment=5, alarm=AlarmKind.FORCED_OPEN, active=True))
        shut = forced + timedelta(minutes=2)
        self.event(box, shut, DoorClosed(compartment=5, open_ms=120_000))
        self.event(box, shut, AlarmRaised(compartment=5, alarm=AlarmKind.FORCED_OPEN, active=False))
        # Compartment 11: the sensor flaps for an hour.
        self.event(box, self.at(14), AlarmRaised(compartment=11, alarm=AlarmKind.FLAPPING, active=True))
        self.event(box, self.at(15), AlarmRaised(compartment=11, alarm=AlarmKind.FLAPPING, active=False))
        # Compartment 9: opened two hours before the end and never shut.
        opened = self.unlock(box, self.at(22), 9, shut_after_s=0)
        self.event(
            box,
            opened + timedelta(minutes=2),
            AlarmRaised(compartment=9, alarm=AlarmKind.LEFT_OPEN, active=True),
        )
        self.truth.raised.update(jammed=4, compartment_defective=1, forced_open=1, flapping=1, left_open=1)
        self.truth.cleared.update(jammed=3, forced_open=1, flapping=1)
        self.truth.active_alarms |= {
            (box, 3, "jammed"),
            (box, 3, "compartment_defective"),
            (box, 9, "left_open"),
        }

    def _box_b_story(self) -> None:
        will = self.at(23.2)
        self.schedule(will, lambda: self._status("box-b", BoxState.OFFLINE))
        self.truth.raised.update(outbox_backlog=1, box_offline=1)
        self.truth.active_alarms |= {("box-b", None, "outbox_backlog"), ("box-b", None, "box_offline")}

    def _telemetry(self) -> None:
        for box in BOXES:
            k = 0
            moment = self.at(0) + TELEMETRY_EVERY / 2
            while moment < self.truth.end:
                if box == "box-b" and moment >= self.at(23.2):
                    break  # offline
                self.schedule(moment, partial(self._health, box, k, moment))
                k += 1
                moment += TELEMETRY_EVERY

    # ------------------------------------------------------------------ playing

    async def play(self) -> Truth:
        """Register the boxes, play every step in time order, write the final state."""
        async with transaction(self.sessions) as session:
            for box in BOXES:
                await boxes.register_box(session, box, f"Simulated {box}")
        self.build()
        for step in sorted(self.steps):
            result = step.action()
            if inspect.isawaitable(result):
                await result
        await StateReporter(self.sessions, self.writer, interval_s=300).report()
        await self.writer.flush()
        return self.truth

    async def _event(self, box: str, at: datetime, data: EventData) -> None:
        self.seq[box] += 1
        event = Event(id=uuid.uuid4(), box_id=box, session=1, seq=self.seq[box], at=at, data=data)
        async with transaction(self.sessions) as session:
            result = await ingest.store_event(session, event, now=at)
        await notify_observers(self.observers, lambda o: o.event_stored(event, result), "event")
        self._account(box, at, data)

    def _account(self, box: str, at: datetime, data: EventData) -> None:
        truth = self.truth
        if isinstance(data, LockPulsed):
            truth.pulses[hour_of(at)] += 1
            truth.pulses_by_compartment[(box, data.compartment)] += 1
        elif isinstance(data, DoorOpened):
            truth.openings[hour_of(at)] += 1
            truth.doors_open[box].add(data.compartment)
        elif isinstance(data, DoorClosed):
            truth.doors_open[box].discard(data.compartment)
        elif isinstance(data, CommandResult):
            truth.outcomes[data.outcome.value] += 1
            if data.compartment is not None:
                truth.results[(box, data.compartment)].append(int(data.outcome is CommandOutcome.JAMMED))

    async def _status(self, box: str, state: BoxState) -> None:
        status = BoxStatus(box_id=box, state=state, session=1, at=self.truth.start)
        async with transaction(self.sessions) as session:
            changed = await ingest.apply_status(session, status)
        await notify_observers(self.observers, lambda o: o.status_applied(status, changed), "status")
        self.truth.online[box] = int(state is BoxState.ONLINE)

    async def _birth_snapshot(self, box: str, count: int) -> None:
        snapshot = StateSnapshot(
            box_id=box,
            session=1,
            as_of_seq=0,
            at=self.truth.start,
            reason="birth",
            compartments=[
                CompartmentState(number=n, door=DoorPosition.CLOSED, locked=True, size="M")
                for n in range(1, count + 1)
            ],
        )
        async with transaction(self.sessions) as session:
            result = await ingest.apply_snapshot(session, snapshot)
        await notify_observers(self.observers, lambda o: o.snapshot_applied(snapshot, result), "snapshot")

    async def _health(self, box: str, k: int, at: datetime) -> None:
        hours = (at - self.truth.start).total_seconds() / 3600
        outbox = 0
        if box == "box-b" and hours > 20:
            outbox = int(450 * (hours - 20))  # backs up: passes 1,000 after 22:13
        sample = Telemetry(
            box_id=box,
            at=at,
            uptime_s=3600.0 + k * TELEMETRY_EVERY.total_seconds(),
            outbox_depth=outbox,
            cpu_temp_c=round(48 + 8 * math.sin(k / 10) + (3 if box == "box-b" else 0), 1),
            disk_free_bytes=20_000_000_000 - k * 1_000_000,
            bus_errors=3 if box == "box-a" and hours > 12 else 0,
            doors_open=len(self.truth.doors_open[box]),
        )
        await notify_observers(self.observers, lambda o: o.telemetry_received(sample), "telemetry")
        self.truth.samples[box].append(sample)
        self.truth.max_outbox[box] = max(self.truth.max_outbox[box], outbox)
        self.truth.max_bus_errors[box] = max(self.truth.max_bus_errors[box], sample.bus_errors)

    def _work(self, box: str, number: int, at: datetime, is_pickup: bool, occupied: int) -> None:
        if is_pickup:
            self.writer.write([points.pickup(box, number, at, waited_s=3600.0)])
            self.truth.pickups[hour_of(at)] += 1
            self.truth.pickups_by_box[box] += 1
        else:
            self.writer.write([points.load(box, number, at)])
            self.truth.loads[hour_of(at)] += 1
            self.truth.loads_by_box[box] += 1
        self._occupancy(box, at, occupied)

    def _occupancy(self, box: str, at: datetime, occupied: int) -> None:
        self.writer.write([points.occupancy(box, at, occupied=occupied, total=BOXES[box])])
        self.truth.occupied[box] = occupied
