"""The alarm service: raises and clears alarms from what ingest stored and from the clock.

Sources:

- the box's own ``alarm`` events (forced_open, left_open, jammed, flapping), raised and
  cleared as the box reports them; a door shut clears left_open and forced_open and a door
  opened on command clears jammed, whoever raised them;
- state snapshots, which reconcile the box's alarms after lost events;
- status: the last will (``offline``) raises ``box_offline`` once the box has stayed offline
  for ``offline_grace_s`` (a short reconnect raises nothing); the birth clears it;
- telemetry: ``outbox_backlog`` while the box's unsent events reach ``outbox_backlog``;
- the clock (:meth:`AlarmService.sweep`): box offline past the grace period, a door open
  longer than ``left_open_s`` (a check of the cloud's own, for boxes configured more leniently);
- repeated jams: ``defective_jams`` jams of one compartment within ``defective_window_s``
  raise ``compartment_defective``, which stays until someone resolves it through the API.

Each alarm is stored once in PostgreSQL (:mod:`docbox_cloud.alarms.store`) and, after the
transaction committed, written to InfluxDB (Grafana annotations) and queued for the
facilities team's notifications, which a background task sends with retries. Nothing here
blocks or fails ingest: database failures are logged and counted, notifications are queued
(bounded; overflow is dropped and counted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.alarms import messages, store
from docbox_cloud.alarms.models import Alarm, AlarmType
from docbox_cloud.backoff import Backoff
from docbox_cloud.db import transaction
from docbox_cloud.errors import StorageError
from docbox_cloud.ingest import IngestResult, SnapshotResult
from docbox_cloud.models import Box, Compartment
from docbox_cloud.notify.base import Channel, Notification, NotificationError, Notifier
from docbox_cloud.notify.masking import mask_recipient
from docbox_cloud.settings import CloudSettings
from docbox_cloud.stats import BridgeStats
from docbox_cloud.telemetry import points
from docbox_cloud.telemetry.writer import TelemetryWriter
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    BoxState,
    BoxStatus,
    DoorClosed,
    DoorOpened,
    DoorPosition,
    Event,
    StateSnapshot,
    Telemetry,
    utcnow,
)

log = logging.getLogger(__name__)

#: Alarm kinds the box itself raises and clears.
EDGE_KINDS = frozenset(AlarmType(kind.value) for kind in AlarmKind)

#: A notification recipient: channel and address (e-mail address or webhook URL).
Recipient = tuple[Channel, str]


@dataclass(frozen=True, slots=True)
class AlarmPolicy:
    """Thresholds of the alarms the cloud derives itself (see the settings' ``alarm_*``)."""

    offline_grace_s: float = 60.0
    left_open_s: float = 300.0
    outbox_backlog: int = 1_000
    defective_jams: int = 3
    defective_window_s: float = 86_400.0
    sweep_interval_s: float = 15.0

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> AlarmPolicy:
        """The policy configured by ``DOCBOX_ALARM_*``."""
        return cls(
            offline_grace_s=settings.alarm_offline_grace_s,
            left_open_s=settings.alarm_left_open_s,
            outbox_backlog=settings.alarm_outbox_backlog,
            defective_jams=settings.alarm_defective_jams,
            defective_window_s=settings.alarm_defective_window_s,
            sweep_interval_s=settings.alarm_sweep_interval_s,
        )


def recipients_from_settings(settings: CloudSettings) -> list[Recipient]:
    """The facilities team's recipients: ``alarm_email_to`` and ``alarm_webhook_urls``."""
    recipients: list[Recipient] = [("email", address) for address in settings.alarm_email_to]
    recipients += [("webhook", url) for url in settings.alarm_webhook_urls]
    return recipients


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """An alarm that was raised or cleared just now (after its transaction committed)."""

    alarm_id: int
    box_id: str
    compartment: int | None
    kind: AlarmType
    detail: str | None
    raised: bool
    at: datetime

    @classmethod
    def of(cls, alarm: Alarm, *, raised: bool) -> AlarmChange:
        """The change of ``alarm``: its raising, or its clearing."""
        at = alarm.raised_at if raised or alarm.cleared_at is None else alarm.cleared_at
        return cls(alarm.id, alarm.box_id, alarm.compartment, AlarmType(alarm.kind), alarm.detail, raised, at)


class _Changes:
    """What one transaction raised and cleared, and the state to report afterwards."""

    def __init__(self) -> None:
        self.items: list[AlarmChange] = []
        self.compartment_alarms: dict[tuple[str, int], list[str]] = {}
        self.box_counts: dict[str, int] = {}


Work = Callable[[AsyncSession, _Changes], Awaitable[None]]


class AlarmService:
    """Raises, clears, stores and announces alarms; an ingest observer.

    Args:
        sessions: The cloud database.
        policy: Thresholds.
        notifier: Sends the facilities team's notifications; None: no notifications.
        recipients: Who is notified (channel, address).
        writer: Telemetry writer for the alarm points; None: telemetry disabled.
        language: Language of the notifications.
        clock: Current time (tests).
        notify_queue_size: Notifications waiting at most; more are dropped and counted.
        notify_attempts: Attempts per notification before it is given up.
        notify_backoff: Delays between attempts.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        policy: AlarmPolicy | None = None,
        notifier: Notifier | None = None,
        recipients: Sequence[Recipient] = (),
        writer: TelemetryWriter | None = None,
        language: messages.Language = "de",
        clock: Callable[[], datetime] = utcnow,
        notify_queue_size: int = 1_000,
        notify_attempts: int = 3,
        notify_backoff: Callable[[], Backoff] | None = None,
    ) -> None:
        self._sessions = sessions
        self.policy = policy or AlarmPolicy()
        self._notifier = notifier
        self._recipients = tuple(recipients)
        self._writer = writer
        self._language = language
        self._clock = clock
        self._outgoing: asyncio.Queue[Notification] = asyncio.Queue(maxsize=notify_queue_size)
        self._notify_attempts = max(1, notify_attempts)
        self._notify_backoff = notify_backoff or (lambda: Backoff(initial=1.0, maximum=30.0))
        self._stats = BridgeStats()

    @property
    def stats(self) -> BridgeStats:
        """Counts ``raised``, ``cleared``, ``notified``, ``notify_failed``, ``notify_dropped``,
        ``storage_failure`` and ``sweeps``."""
        return self._stats

    @property
    def pending_notifications(self) -> int:
        """Notifications waiting to be sent."""
        return self._outgoing.qsize()

    async def run(self) -> None:
        """Send notifications and run the time-based checks until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._send_loop(), name="docbox-alarm-notifications")
            tasks.create_task(self._sweep_loop(), name="docbox-alarm-sweep")

    # ------------------------------------------------------------------ ingest observer

    async def event_stored(self, event: Event, result: IngestResult) -> None:
        """Raise or clear alarms for a newly stored event."""
        if not result.new:
            return
        data = event.data
        box, seq, at = event.box_id, event.seq, event.at
        work: Work
        if isinstance(data, AlarmRaised):
            kind, number, detail = AlarmType(data.alarm.value), data.compartment, data.detail
            if data.active:

                async def work(session: AsyncSession, changes: _Changes) -> None:
                    alarm = await self._raise(
                        session, changes, box, kind, at=at, compartment=number, detail=detail, seq=seq
                    )
                    if alarm is not None and kind is AlarmType.JAMMED:
                        await self._check_defective(session, changes, box, number, at)

            else:

                async def work(session: AsyncSession, changes: _Changes) -> None:
                    await self._clear(session, changes, box, kind, at=at, compartment=number, seq=seq)

        elif isinstance(data, DoorClosed):
            shut = data.compartment

            async def work(session: AsyncSession, changes: _Changes) -> None:
                for kind in (AlarmType.LEFT_OPEN, AlarmType.FORCED_OPEN):
                    await self._clear(session, changes, box, kind, at=at, compartment=shut, seq=seq)

        elif isinstance(data, DoorOpened) and data.command_id is not None:
            opened = data.compartment

            async def work(session: AsyncSession, changes: _Changes) -> None:
                await self._clear(session, changes, box, AlarmType.JAMMED, at=at, compartment=opened, seq=seq)

        else:
            return
        await self._run_work(work, f"event {event.id} of box {box}")

    async def status_applied(self, status: BoxStatus, changed: bool) -> None:
        """Clear ``box_offline`` on a birth; raise it on a will when there is no grace period."""
        if not changed:
            return
        box, now = status.box_id, self._clock()
        online = status.state is BoxState.ONLINE
        if not online and self.policy.offline_grace_s > 0:
            return  # the sweep raises it if the box stays away

        async def work(session: AsyncSession, changes: _Changes) -> None:
            if online:
                await self._clear(session, changes, box, AlarmType.BOX_OFFLINE, at=now)
            else:
                await self._raise(session, changes, box, AlarmType.BOX_OFFLINE, at=now, detail="last will")

        await self._run_work(work, f"status of box {box}")

    async def snapshot_applied(self, snapshot: StateSnapshot, result: SnapshotResult) -> None:
        """Reconcile the box's alarms with the snapshot (events may have been lost)."""
        as_of, at, box = snapshot.as_of_seq, snapshot.at, snapshot.box_id
        reported = {state.number: state for state in snapshot.compartments}

        async def work(session: AsyncSession, changes: _Changes) -> None:
            active: dict[tuple[int, AlarmType], Alarm] = {
                (alarm.compartment, AlarmType(alarm.kind)): alarm
                for alarm in await store.active_alarms(session, box)
                if alarm.compartment is not None and alarm.kind in EDGE_KINDS
            }
            # Alarms cleared after the snapshot was taken: a stale snapshot must not revive them.
            cleared_later = {
                (alarm.compartment, alarm.kind)
                for alarm in await session.scalars(
                    select(Alarm).where(Alarm.box_id == box, Alarm.cleared_seq > as_of)
                )
            }
            for number, state in reported.items():
                for kind in {AlarmType(a.value) for a in state.alarms}:
                    if (number, kind) not in active and (number, kind.value) not in cleared_later:
                        detail = "reported by the box's state snapshot"
                        await self._raise(
                            session, changes, box, kind, at=at, compartment=number, detail=detail, seq=as_of
                        )
            for (number, kind), alarm in active.items():
                seen = reported.get(number)
                if seen is None or AlarmKind(kind.value) in seen.alarms:
                    continue
                if (alarm.raised_seq or 0) > as_of:
                    continue  # raised after the snapshot was taken
                if kind is AlarmType.LEFT_OPEN and seen.door is DoorPosition.OPEN:
                    continue  # possibly the cloud's own check; the door is still open
                await self._clear(session, changes, box, kind, at=at, compartment=number, seq=as_of)

        await self._run_work(work, f"snapshot of box {box}")

    async def telemetry_received(self, telemetry: Telemetry) -> None:
        """Raise ``outbox_backlog`` while the box's outbox is deep; clear it when it drained."""
        box, at, depth = telemetry.box_id, telemetry.at, telemetry.outbox_depth

        async def work(session: AsyncSession, changes: _Changes) -> None:
            if depth < self.policy.outbox_backlog:
                await self._clear(session, changes, box, AlarmType.OUTBOX_BACKLOG, at=at)
            elif await session.get(Box, box) is not None:
                detail = f"{depth} events not yet delivered"
                await self._raise(session, changes, box, AlarmType.OUTBOX_BACKLOG, at=at, detail=detail)

        await self._run_work(work, f"telemetry of box {box}")

    # ------------------------------------------------------------------ time-based checks

    async def sweep(self, now: datetime | None = None) -> None:
        """Raise the time-based alarms: boxes offline past the grace period, doors left open."""
        now = now or self._clock()
        offline_since = now - timedelta(seconds=self.policy.offline_grace_s)
        open_since = now - timedelta(seconds=self.policy.left_open_s)

        async def work(session: AsyncSession, changes: _Changes) -> None:
            offline = await session.scalars(
                select(Box).where(
                    Box.online.is_(False), Box.session.is_not(None), Box.last_seen <= offline_since
                )
            )
            for box in offline:
                detail = "no connection since the last will"
                # raised_at: when it went away, which the message then tells.
                at = box.last_seen or now
                await self._raise(session, changes, box.id, AlarmType.BOX_OFFLINE, at=at, detail=detail)
            left_open = await session.execute(
                select(Compartment.box_id, Compartment.number)
                .join(Box, Box.id == Compartment.box_id)
                .where(Box.online.is_(True), Compartment.door == "open", Compartment.updated_at <= open_since)
            )
            for box_id, number in left_open:
                detail = f"open for more than {self.policy.left_open_s:g} s (cloud check)"
                await self._raise(
                    session, changes, box_id, AlarmType.LEFT_OPEN, at=now, compartment=number, detail=detail
                )

        await self._run_work(work, "sweep")
        self._stats.add("sweeps")

    async def resolve(self, alarm_id: int) -> Alarm:
        """Clear a ``compartment_defective`` alarm by hand (the compartment was repaired).

        Raises:
            UnknownAlarmError: if there is no such alarm.
            AlarmNotResolvableError: if it is cleared already or clears by itself.
            StorageError: if the database failed.
        """
        changes = _Changes()
        async with transaction(self._sessions) as session:
            alarm = await store.get_alarm(session, alarm_id)
            if alarm.kind != AlarmType.COMPARTMENT_DEFECTIVE.value:
                raise store.AlarmNotResolvableError(
                    f"alarm {alarm_id} ({alarm.kind}) clears by itself when its condition ends"
                )
            if alarm.active_key is None:
                raise store.AlarmNotResolvableError(f"alarm {alarm_id} is cleared already")
            await self._clear(
                session,
                changes,
                alarm.box_id,
                AlarmType.COMPARTMENT_DEFECTIVE,
                at=self._clock(),
                compartment=alarm.compartment,
            )
            await self._collect_state(session, changes)
            resolved = await store.get_alarm(session, alarm_id)
        self._announce(changes)
        return resolved

    # ------------------------------------------------------------------ internals

    async def _raise(
        self,
        session: AsyncSession,
        changes: _Changes,
        box_id: str,
        kind: AlarmType,
        *,
        at: datetime,
        compartment: int | None = None,
        detail: str | None = None,
        seq: int | None = None,
    ) -> Alarm | None:
        alarm = await store.raise_alarm(
            session, box_id, kind, at=at, compartment=compartment, detail=detail, seq=seq
        )
        if alarm is not None:
            changes.items.append(AlarmChange.of(alarm, raised=True))
        return alarm

    async def _clear(
        self,
        session: AsyncSession,
        changes: _Changes,
        box_id: str,
        kind: AlarmType,
        *,
        at: datetime,
        compartment: int | None = None,
        seq: int | None = None,
    ) -> None:
        alarm = await store.clear_alarm(session, box_id, kind, at=at, compartment=compartment, seq=seq)
        if alarm is not None:
            changes.items.append(AlarmChange.of(alarm, raised=False))

    async def _check_defective(
        self, session: AsyncSession, changes: _Changes, box_id: str, number: int, at: datetime
    ) -> None:
        since = at - timedelta(seconds=self.policy.defective_window_s)
        jams = await store.count_raised_since(session, box_id, number, AlarmType.JAMMED, since)
        if jams >= self.policy.defective_jams:
            window_h = self.policy.defective_window_s / 3600
            detail = f"jammed {jams} times within {window_h:g} h"
            await self._raise(
                session,
                changes,
                box_id,
                AlarmType.COMPARTMENT_DEFECTIVE,
                at=at,
                compartment=number,
                detail=detail,
            )

    async def _run_work(self, work: Work, what: str) -> None:
        changes = _Changes()
        try:
            async with transaction(self._sessions) as session:
                await work(session, changes)
                await self._collect_state(session, changes)
        except StorageError as exc:
            # The message itself is stored; the next event, snapshot or sweep catches up.
            log.warning("alarms: cannot process %s: %s", what, exc)
            self._stats.add("storage_failure")
            return
        self._announce(changes)

    async def _collect_state(self, session: AsyncSession, changes: _Changes) -> None:
        """Read the state the telemetry points report, inside the changing transaction."""
        for change in changes.items:
            if change.box_id not in changes.box_counts:
                changes.box_counts[change.box_id] = await store.count_active(session, change.box_id)
            if change.compartment is not None:
                key = (change.box_id, change.compartment)
                if key not in changes.compartment_alarms:
                    active = await store.active_alarms(session, change.box_id, change.compartment)
                    changes.compartment_alarms[key] = [alarm.kind for alarm in active]

    def _announce(self, changes: _Changes) -> None:
        """Log, count, write the points of and queue the notifications for committed changes."""
        now = self._clock()
        for change in changes.items:
            where = f"box {change.box_id}" + (
                f" compartment {change.compartment}" if change.compartment is not None else ""
            )
            if change.raised:
                detail = f" ({change.detail})" if change.detail else ""
                log.warning("alarm %d raised: %s at %s%s", change.alarm_id, change.kind.value, where, detail)
            else:
                log.info("alarm %d cleared: %s at %s", change.alarm_id, change.kind.value, where)
            self._stats.add("raised" if change.raised else "cleared")
            text = messages.describe(
                kind=change.kind,
                box_id=change.box_id,
                compartment=change.compartment,
                raised=change.raised,
                at=change.at,
                detail=change.detail,
                alarm_id=change.alarm_id,
                language=self._language,
            )
            if self._writer is not None:
                self._writer.write(
                    [
                        points.alarm(
                            change.box_id,
                            change.kind.value,
                            change.at,
                            active=change.raised,
                            text=text.subject,
                            compartment=change.compartment,
                            alarm_id=change.alarm_id,
                        )
                    ]
                )
            self._queue_notifications(change, text)
        if self._writer is not None:
            state = [
                points.compartment_state(box_id, number, now, alarms=kinds)
                for (box_id, number), kinds in changes.compartment_alarms.items()
            ]
            state += [
                points.box_state(box_id, now, active_alarms=n) for box_id, n in changes.box_counts.items()
            ]
            self._writer.write(state)

    def _queue_notifications(self, change: AlarmChange, text: messages.AlarmText) -> None:
        if self._notifier is None:
            return
        kind = f"alarm.{'raised' if change.raised else 'cleared'}"
        for channel, to in self._recipients:
            notification = Notification(
                channel=channel,
                to=to,
                subject=text.subject,
                text=text.text,
                language=self._language,
                kind=kind,
            )
            try:
                self._outgoing.put_nowait(notification)
            except asyncio.QueueFull:
                self._stats.add("notify_dropped")
                log.warning("alarm notifications queue full: not notifying %s", mask_recipient(to))

    async def _send_loop(self) -> None:
        while True:
            notification = await self._outgoing.get()
            try:
                await self._deliver(notification)
            finally:
                self._outgoing.task_done()

    async def _deliver(self, notification: Notification) -> None:
        assert self._notifier is not None
        backoff = self._notify_backoff()
        for attempt in range(1, self._notify_attempts + 1):
            try:
                await self._notifier.send(notification)
            except NotificationError as exc:
                if attempt == self._notify_attempts:
                    log.warning(
                        "could not send %s to %s after %d attempts: %s",
                        notification.kind,
                        mask_recipient(notification.to),
                        attempt,
                        exc,
                    )
                    self._stats.add("notify_failed")
                    return
                await asyncio.sleep(backoff.next_delay())
            else:
                self._stats.add("notified")
                return

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.policy.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:
                # A bug must not end the checks for good.
                log.exception("alarm sweep failed")
