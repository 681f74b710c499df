"""Fixtures of the pickup tests: a pickup service on a real PostgreSQL with a recording box link."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud import ingest
from docbox_cloud.db import create_engine, session_factory, transaction
from docbox_cloud.migrate import migrate_async
from docbox_cloud.models import Box
from docbox_cloud.notify import Notification
from docbox_cloud.pickup.service import LoadResult, NewDocument, PickupService
from docbox_cloud.settings import CloudSettings
from docbox_protocol.messages import (
    Command,
    CommandOutcome,
    CommandReply,
    CommandResult,
    CompartmentState,
    DoorClosed,
    DoorOpened,
    DoorPosition,
    Event,
    EventData,
    GrantsAction,
    KioskAnswer,
    LockPulsed,
    RevokeGrantsAction,
    StateSnapshot,
    UnlockAction,
)
from docbox_protocol.signing import CommandSigner
from tests.cloud.factories import BOX, add_box

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
DOB = date(1990, 4, 1)
PHONE = "+4917612345678"


class RecordingNotifier:
    """Keeps every notification (the transport drivers are tested in tests/cloud/notify)."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> None:
        """Record it."""
        self.sent.append(notification)

    def of_kind(self, kind: str) -> list[Notification]:
        """The notifications of one kind, e.g. ``pickup.ready``."""
        return [n for n in self.sent if n.kind == kind]


@dataclass
class RecordingLink:
    """Stands in for the MQTT bridge in domain tests: signs and records commands and answers.

    The bridge itself is tested against Mosquitto (tests/cloud/test_cloud_bridge.py, the kiosk
    test and the end-to-end test); here the events a box would send are fed in directly.
    """

    signer: CommandSigner
    outcome: CommandOutcome = CommandOutcome.OPENED
    commands: list[Command] = field(default_factory=list)
    answers: list[KioskAnswer] = field(default_factory=list)

    async def send_command(self, command: Command) -> None:
        self.commands.append(command)

    async def unlock_and_wait(self, command: Command) -> CommandReply:
        self.commands.append(command)
        return CommandReply(command_id=command.id, box_id=command.box_id, at=NOW, outcome=self.outcome)

    async def publish_answer(self, answer: KioskAnswer) -> None:
        self.answers.append(answer)

    def unlocks(self) -> list[Command]:
        return [c for c in self.commands if isinstance(c.body, UnlockAction)]

    def grants(self) -> list[GrantsAction]:
        return [c.body for c in self.commands if isinstance(c.body, GrantsAction)]

    def revokes(self) -> list[RevokeGrantsAction]:
        return [c.body for c in self.commands if isinstance(c.body, RevokeGrantsAction)]


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
async def pg_sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Session factory on a migrated, empty PostgreSQL database."""
    await migrate_async(postgres_url)
    engine = create_engine(postgres_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def pickup_settings(make_settings: Callable[..., CloudSettings], postgres_url: str) -> CloudSettings:
    """Settings with a data key, on the test's PostgreSQL database."""
    return make_settings(
        database_url=postgres_url,
        pickup_data_key=Fernet.generate_key().decode(),
        pickup_webhook_url="http://127.0.0.1:9/hook",
        pickup_webhook_secret="webhook-secret-0123",
        pickup_staff_email="staff@office.example",
    )


@dataclass
class PickupWorld:
    """A service with its recording link and notifier, a clock, and a box of six compartments."""

    service: PickupService
    link: RecordingLink
    notifier: RecordingNotifier
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]
    seq: int = 0

    async def feed(self, data: EventData) -> Event:
        """Store an event as the bridge does (real ingest), then hand it to the service."""
        self.seq += 1
        event = Event(id=uuid.uuid4(), box_id=BOX, session=1, seq=self.seq, at=self.clock(), data=data)
        await self.deliver(event)
        return event

    async def deliver(self, event: Event) -> None:
        """Ingest ``event`` (again: a redelivery) and tell the service."""
        async with transaction(self.sessions) as session:
            result = await ingest.store_event(session, event)
        await self.service.event_stored(event, result)

    async def load(self, code: str = "DOC-1") -> LoadResult:
        """Load via the REST path, then let the box report the door opening and being shut."""
        result = await self.service.load_and_wait(BOX, code, staff_id="s1")
        await self.feed(
            LockPulsed(compartment=result.compartment, command_id=result.command_id, pulse_ms=200)
        )
        await self.feed(DoorOpened(compartment=result.compartment, command_id=result.command_id))
        await self.feed(
            CommandResult(
                command_id=result.command_id, compartment=result.compartment, outcome=CommandOutcome.OPENED
            )
        )
        await self.feed(DoorClosed(compartment=result.compartment, open_ms=3000))
        return result

    async def register(self, code: str = "DOC-1", **overrides: Any) -> uuid.UUID:
        values: dict[str, Any] = {
            "code": code,
            "case_number": f"AB-{code}",
            "kind": "residence_permit_card",
            "contact_channel": "sms",
            "contact": "0176 1234 5678",
            "date_of_birth": DOB,
            "language": "en",
        }
        values.update(overrides)
        return (await self.service.register(NewDocument(**values))).id


#: Compartments of the test box: (number, size, height_cm); 3 and 4 are in the accessible band.
LAYOUT = [(1, "S", 10), (2, "S", 150), (3, "S", 60), (4, "M", 90), (5, "M", 170), (6, "L", 190)]


def layout_snapshot() -> StateSnapshot:
    """The birth snapshot giving the test box its :data:`LAYOUT`."""
    return StateSnapshot(
        box_id=BOX,
        session=1,
        as_of_seq=0,
        at=NOW,
        reason="birth",
        compartments=[
            CompartmentState(number=n, door=DoorPosition.CLOSED, locked=True, size=size, height_cm=h)
            for n, size, h in LAYOUT
        ],
    )


@pytest.fixture
async def world(
    pg_sessions: async_sessionmaker[AsyncSession],
    pickup_settings: CloudSettings,
    signing_key: Ed25519PrivateKey,
) -> PickupWorld:
    """The pickup domain on PostgreSQL with box ``box-1`` online."""
    await add_box(pg_sessions, compartments=0)
    async with transaction(pg_sessions) as session:
        await ingest.apply_snapshot(session, layout_snapshot())
        box = await session.get(Box, BOX)
        assert box is not None
        box.online = True
    link = RecordingLink(CommandSigner(signing_key))
    notifier = RecordingNotifier()
    clock = Clock(NOW)
    service = PickupService(pickup_settings, pg_sessions, notifier, bridge=link, clock=clock)
    return PickupWorld(service, link, notifier, clock, pg_sessions)
