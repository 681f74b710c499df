"""The alarm service on SQLite and PostgreSQL: raised once, cleared, derived, notified."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud import ingest
from docbox_cloud.alarms import store
from docbox_cloud.alarms.models import AlarmType
from docbox_cloud.alarms.service import AlarmPolicy, AlarmService
from docbox_cloud.backoff import Backoff
from docbox_cloud.db import transaction
from docbox_cloud.ingest import IngestResult, SnapshotResult
from docbox_cloud.models import Compartment
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    BoxState,
    CompartmentState,
    DoorClosed,
    DoorOpened,
    DoorPosition,
    Event,
    EventData,
    StateSnapshot,
    Telemetry,
)
from tests.cloud.alarms.fakes import RecordingNotifier
from tests.cloud.factories import BOX, T0, add_box, make_event, make_status

Sessions = async_sessionmaker[AsyncSession]
NEW = IngestResult(new=True)
DEADLINE_S = 5.0


async def alarms(sessions: Sessions, *, active: bool | None = None) -> list[tuple[str, int | None, bool]]:
    async with transaction(sessions) as session:
        rows = await store.list_alarms(session, active=active)
    return sorted((a.kind, a.compartment, a.active_key is not None) for a in rows)


class Box:
    """Feeds one box's events to the service like the bridge does: store, then observe."""

    def __init__(self, sessions: Sessions, service: AlarmService) -> None:
        self.sessions = sessions
        self.service = service
        self.seq = 0

    async def event(self, data: EventData, *, at_s: float | None = None) -> Event:
        self.seq += 1
        event = make_event(self.seq, data)
        if at_s is not None:
            event = event.model_copy(update={"at": T0 + timedelta(seconds=at_s)})
        async with transaction(self.sessions) as session:
            result = await ingest.store_event(session, event)
        await self.service.event_stored(event, result)
        return event

    async def alarm(self, number: int, kind: AlarmKind, active: bool = True, **kwargs: float) -> Event:
        return await self.event(AlarmRaised(compartment=number, alarm=kind, active=active), **kwargs)


@pytest.fixture
async def box(sessions: Sessions) -> Box:
    await add_box(sessions, compartments=5)
    return Box(sessions, AlarmService(sessions))


async def test_an_alarm_is_raised_once_and_cleared_once(box: Box, sessions: Sessions) -> None:
    await box.alarm(2, AlarmKind.FORCED_OPEN)
    await box.alarm(2, AlarmKind.FORCED_OPEN)  # the same alarm again: nothing new
    assert await alarms(sessions) == [("forced_open", 2, True)]
    assert box.service.stats["raised"] == 1

    await box.alarm(2, AlarmKind.FORCED_OPEN, active=False)
    await box.alarm(2, AlarmKind.FORCED_OPEN, active=False)
    assert await alarms(sessions) == [("forced_open", 2, False)]
    assert box.service.stats["cleared"] == 1

    await box.alarm(2, AlarmKind.FORCED_OPEN)  # a new episode is a new alarm
    assert await alarms(sessions) == [("forced_open", 2, False), ("forced_open", 2, True)]


async def test_a_redelivered_event_changes_nothing(box: Box, sessions: Sessions) -> None:
    event = await box.alarm(1, AlarmKind.FLAPPING)
    await box.service.event_stored(event, IngestResult(new=False))
    await box.alarm(1, AlarmKind.FLAPPING, active=False)
    await box.service.event_stored(event, IngestResult(new=False))  # replayed raise after the clear

    assert await alarms(sessions) == [("flapping", 1, False)]


async def test_door_events_clear_door_alarms_whoever_raised_them(box: Box, sessions: Sessions) -> None:
    await box.alarm(3, AlarmKind.LEFT_OPEN)
    await box.alarm(3, AlarmKind.FORCED_OPEN)
    await box.alarm(4, AlarmKind.JAMMED)

    await box.event(DoorClosed(compartment=3))
    await box.event(DoorOpened(compartment=4, forced=True))  # forced: the lock is no better
    assert await alarms(sessions, active=True) == [("jammed", 4, True)]

    await box.event(DoorOpened(compartment=4, command_id=uuid.uuid4()))
    assert await alarms(sessions, active=True) == []


async def test_repeated_jams_mark_a_compartment_defective_until_resolved(
    box: Box, sessions: Sessions
) -> None:
    for round_ in range(3):
        await box.alarm(5, AlarmKind.JAMMED, at_s=round_ * 3600)
        if round_ < 2:
            await box.event(DoorOpened(compartment=5, command_id=uuid.uuid4()))
    active = await alarms(sessions, active=True)
    assert active == [("compartment_defective", 5, True), ("jammed", 5, True)]

    async with transaction(sessions) as session:
        (defective,) = await store.list_alarms(session, kinds=[AlarmType.COMPARTMENT_DEFECTIVE])
        (jammed,) = await store.list_alarms(session, active=True, kinds=[AlarmType.JAMMED])
    assert defective.detail == "jammed 3 times within 24 h"
    with pytest.raises(store.AlarmNotResolvableError, match="clears by itself"):
        await box.service.resolve(jammed.id)

    resolved = await box.service.resolve(defective.id)
    assert resolved.active_key is None
    assert resolved.cleared_at is not None
    with pytest.raises(store.AlarmNotResolvableError, match="cleared already"):
        await box.service.resolve(defective.id)
    with pytest.raises(store.UnknownAlarmError):
        await box.service.resolve(99_999)


async def test_jams_spread_wider_than_the_window_are_not_a_defect(box: Box, sessions: Sessions) -> None:
    for round_ in range(3):
        await box.alarm(5, AlarmKind.JAMMED, at_s=round_ * 50_000)
        await box.event(DoorOpened(compartment=5, command_id=uuid.uuid4()))

    assert ("compartment_defective", 5, True) not in await alarms(sessions)


async def test_box_offline_after_the_grace_period_and_back_online(sessions: Sessions) -> None:
    await add_box(sessions)
    now = [T0]
    service = AlarmService(sessions, policy=AlarmPolicy(offline_grace_s=60), clock=lambda: now[0])

    async def status(state: BoxState, session: int) -> None:
        async with transaction(sessions) as db:
            changed = await ingest.apply_status(db, make_status(state, session), now=now[0])
        await service.status_applied(make_status(state, session), changed)

    await status(BoxState.ONLINE, 1)
    await status(BoxState.OFFLINE, 1)
    now[0] = T0 + timedelta(seconds=30)
    await service.sweep()
    assert await alarms(sessions) == []  # within the grace period: a reconnect raises nothing

    now[0] = T0 + timedelta(seconds=61)
    await service.sweep()
    await service.sweep()
    assert await alarms(sessions) == [("box_offline", None, True)]
    async with transaction(sessions) as session:
        (alarm,) = await store.list_alarms(session)
    assert alarm.raised_at == T0  # when it went away

    await status(BoxState.ONLINE, 2)
    assert await alarms(sessions) == [("box_offline", None, False)]


async def test_without_grace_the_last_will_raises_at_once(sessions: Sessions) -> None:
    await add_box(sessions)
    service = AlarmService(sessions, policy=AlarmPolicy(offline_grace_s=0))
    await service.status_applied(make_status(BoxState.OFFLINE, 1), True)
    await service.status_applied(make_status(BoxState.OFFLINE, 1), False)  # stale: ignored

    assert await alarms(sessions) == [("box_offline", None, True)]


async def test_the_cloud_raises_left_open_for_doors_open_too_long(box: Box, sessions: Sessions) -> None:
    async with transaction(sessions) as session:
        await ingest.apply_status(session, make_status(BoxState.ONLINE, 1))
    await box.event(DoorOpened(compartment=2, command_id=uuid.uuid4()))
    async with transaction(sessions) as session:
        opened_at = (await session.scalars(select(Compartment.updated_at))).first()
    assert opened_at is not None
    service = box.service = AlarmService(sessions, policy=AlarmPolicy(left_open_s=300))

    await service.sweep(opened_at + timedelta(seconds=299))
    assert await alarms(sessions) == []
    await service.sweep(opened_at + timedelta(seconds=301))
    assert await alarms(sessions) == [("left_open", 2, True)]

    await box.event(DoorClosed(compartment=2))
    assert await alarms(sessions, active=True) == []


async def test_outbox_backlog_follows_the_telemetry(box: Box, sessions: Sessions) -> None:
    service = AlarmService(sessions, policy=AlarmPolicy(outbox_backlog=100))

    def sample(depth: int, box_id: str = BOX) -> Telemetry:
        return Telemetry(box_id=box_id, at=T0, uptime_s=1, outbox_depth=depth)

    await service.telemetry_received(sample(99))
    assert await alarms(sessions) == []
    await service.telemetry_received(sample(100))
    await service.telemetry_received(sample(250))
    assert await alarms(sessions) == [("outbox_backlog", None, True)]
    await service.telemetry_received(sample(3))
    assert await alarms(sessions) == [("outbox_backlog", None, False)]
    await service.telemetry_received(sample(5000, box_id="not-registered"))  # ignored, no error
    assert len(await alarms(sessions)) == 1


async def test_snapshots_reconcile_missed_raises_and_clears(box: Box, sessions: Sessions) -> None:
    await box.alarm(1, AlarmKind.FLAPPING)  # seq 1
    await box.alarm(2, AlarmKind.LEFT_OPEN)  # seq 2

    def snapshot(as_of: int, states: list[CompartmentState]) -> StateSnapshot:
        return StateSnapshot(
            box_id=BOX, session=1, as_of_seq=as_of, at=T0, reason="requested", compartments=states
        )

    closed = DoorPosition.CLOSED
    latest = snapshot(
        5,
        [
            CompartmentState(number=1, door=closed, locked=True),  # flapping ended unseen
            CompartmentState(number=2, door=DoorPosition.OPEN, locked=False),  # still open: keep
            CompartmentState(number=3, door=closed, locked=True, alarms=[AlarmKind.JAMMED]),  # missed
        ],
    )
    await box.service.snapshot_applied(latest, SnapshotResult(0, 3, 0))
    assert await alarms(sessions, active=True) == [("jammed", 3, True), ("left_open", 2, True)]

    await box.alarm(4, AlarmKind.FORCED_OPEN)  # seq 3
    await box.alarm(4, AlarmKind.FORCED_OPEN, active=False)  # seq 4, after a stale snapshot of seq 2
    stale = snapshot(
        2, [CompartmentState(number=4, door=closed, locked=True, alarms=[AlarmKind.FORCED_OPEN])]
    )
    await box.service.snapshot_applied(stale, SnapshotResult(0, 0, 1))
    assert ("forced_open", 4, True) not in await alarms(sessions)


async def test_notifications_reach_the_facilities_team_and_failures_are_retried(
    box: Box, sessions: Sessions
) -> None:
    notifier = RecordingNotifier(failures=1)
    service = AlarmService(
        sessions,
        notifier=notifier,
        recipients=[("email", "facilities@example.org"), ("webhook", "https://hooks.example.org/alarm")],
        language="en",
        notify_backoff=lambda: Backoff(initial=0.01, maximum=0.01),
    )
    async with running(service):
        await Box(sessions, service).alarm(4, AlarmKind.FORCED_OPEN)
        async with asyncio.timeout(DEADLINE_S):
            sent = await notifier.wait_for(2)

    assert {(n.channel, n.to) for n in sent} == {
        ("email", "facilities@example.org"),
        ("webhook", "https://hooks.example.org/alarm"),
    }
    assert sent[0].subject == f"docbox Alarm: forced open – compartment 4, box {BOX}"
    assert sent[0].kind == "alarm.raised"
    assert sent[0].language == "en"
    assert "forced_open" in sent[0].text
    assert notifier.attempts == 3  # one failure, retried
    assert service.stats["notified"] == 2


async def test_notifications_that_keep_failing_are_given_up_and_counted(
    box: Box, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = RecordingNotifier(failures=100)
    service = AlarmService(
        sessions,
        notifier=notifier,
        recipients=[("email", "facilities@example.org")],
        notify_attempts=2,
        notify_backoff=lambda: Backoff(initial=0.01, maximum=0.01),
    )
    async with running(service):
        await Box(sessions, service).alarm(1, AlarmKind.JAMMED)
        async with asyncio.timeout(DEADLINE_S):
            await service.stats.wait_until(lambda s: s["notify_failed"] == 1)
    assert notifier.attempts == 2
    assert "facilities@example.org" not in caplog.text  # recipients are masked in logs
    assert await alarms(sessions) == [("jammed", 1, True)]  # stored all the same


async def test_a_database_failure_is_logged_not_raised(box: Box, sessions: Sessions) -> None:
    engine = sessions.kw["bind"]
    await engine.dispose()
    broken = async_sessionmaker(engine.execution_options(schema_translate_map={None: "missing_schema"}))
    service = AlarmService(broken)

    await service.telemetry_received(Telemetry(box_id=BOX, at=T0, uptime_s=1, outbox_depth=10**6))

    assert service.stats["storage_failure"] == 1


@asynccontextmanager
async def running(service: AlarmService) -> AsyncIterator[None]:
    task = asyncio.create_task(service.run())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
