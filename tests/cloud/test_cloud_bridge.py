"""The MQTT bridge against a real Mosquitto: ingest, bad messages, gaps, commands, failures."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud import boxes
from docbox_cloud.api.app import create_app
from docbox_cloud.bridge import MqttBridge
from docbox_cloud.db import transaction
from docbox_cloud.errors import BridgeUnavailableError, CommandTimeoutError, UnknownCompartmentError
from docbox_cloud.models import Command, Event
from docbox_cloud.settings import CloudSettings
from docbox_cloud.stats import BridgeStats
from docbox_protocol import codec, topics
from docbox_protocol.messages import (
    CommandOutcome,
    DoorClosed,
    DoorOpened,
    RejectReason,
    SignedCommand,
    SnapshotAction,
    utcnow,
)
from docbox_protocol.signing import CommandVerifier, check_window
from docbox_protocol.topics import Channel
from tests.cloud.conftest import API_TOKEN
from tests.cloud.factories import BOX, add_box, make_event, make_snapshot
from tests.cloud.mqtt_peers import answer_with, mqtt_peer, running_fake_edge
from tests.support.services import MosquittoServer

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
StartBridge = Callable[..., Awaitable[MqttBridge]]
DEADLINE_S = 10.0

EVENTS = topics.topic(BOX, Channel.EVENTS)


class BridgeRunner:
    """Starts bridges on the test's broker and database and stops them again."""

    def __init__(
        self, broker: MosquittoServer, sessions: Sessions, make_settings: Callable[..., CloudSettings]
    ) -> None:
        self.broker = broker
        self.sessions = sessions
        self.make_settings = make_settings
        self.tasks: dict[MqttBridge, asyncio.Task[None]] = {}

    async def start(self, **overrides: Any) -> MqttBridge:
        """Start a bridge (settings overridden by keyword) and wait until it subscribed."""
        values: dict[str, Any] = {
            "mqtt_url": self.broker.url,
            "mqtt_client_id": f"cloud-{uuid.uuid4().hex[:8]}",
        }
        values.update(overrides)
        bridge = MqttBridge(self.make_settings(**values), self.sessions)
        self.tasks[bridge] = asyncio.create_task(bridge.run())
        async with asyncio.timeout(DEADLINE_S):
            await bridge.connected.wait()
        return bridge

    async def stop(self, bridge: MqttBridge) -> None:
        """Cancel a bridge's loop; it disconnects cleanly, its broker session persists."""
        task = self.tasks.pop(bridge)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    async def stop_all(self) -> None:
        """Stop every bridge still running."""
        for bridge in list(self.tasks):
            await self.stop(bridge)


@pytest.fixture
async def runner(
    mosquitto: MosquittoServer, sqlite_sessions: Sessions, make_settings: Callable[..., CloudSettings]
) -> AsyncIterator[BridgeRunner]:
    """A bridge runner; box-1 is registered with 3 compartments."""
    await add_box(sqlite_sessions)
    bridge_runner = BridgeRunner(mosquitto, sqlite_sessions, make_settings)
    yield bridge_runner
    await bridge_runner.stop_all()


@pytest.fixture
def start_bridge(runner: BridgeRunner) -> StartBridge:
    """Start a bridge: ``await start_bridge(**settings_overrides)``."""
    return runner.start


async def wait_for(stats: BridgeStats, **at_least: int) -> None:
    """Wait until each named count reached its minimum."""
    async with asyncio.timeout(DEADLINE_S):
        await stats.wait_until(lambda s: all(s[name] >= n for name, n in at_least.items()))


async def stored_seqs(sessions: Sessions) -> list[int]:
    async with transaction(sessions) as session:
        return list(await session.scalars(select(Event.seq).order_by(Event.seq)))


async def door(sessions: Sessions, number: int) -> str:
    async with transaction(sessions) as session:
        return (await boxes.get_compartment(session, BOX, number)).door


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_ingests_an_event_from_a_plain_client(
    start_bridge: StartBridge, mosquitto: MosquittoServer, sqlite_sessions: Sessions, protocol: str
) -> None:
    bridge = await start_bridge(mqtt_protocol=protocol)
    if protocol == "5":
        assert bridge.subscriptions()[0] == f"$share/ingest/{topics.wildcard(Channel.EVENTS)}"

    async with mqtt_peer(mosquitto, "publisher") as peer:
        await peer.publish(EVENTS, codec.encode(make_event(1, DoorOpened(compartment=2))), qos=1)
        await wait_for(bridge.stats, stored=1)

    assert await stored_seqs(sqlite_sessions) == [1]
    assert await door(sqlite_sessions, 2) == "open"


async def test_redelivered_event_is_stored_once(
    start_bridge: StartBridge, mosquitto: MosquittoServer, sqlite_sessions: Sessions
) -> None:
    bridge = await start_bridge()
    payload = codec.encode(make_event(1, DoorOpened(compartment=1)))

    async with mqtt_peer(mosquitto, "publisher") as peer:
        await peer.publish(EVENTS, payload, qos=1)
        await peer.publish(EVENTS, payload, qos=1)
        await wait_for(bridge.stats, stored=1, duplicate=1)

    assert await stored_seqs(sqlite_sessions) == [1]


async def test_malformed_messages_are_logged_and_skipped(
    start_bridge: StartBridge,
    mosquitto: MosquittoServer,
    sqlite_sessions: Sessions,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="docbox_cloud")
    bridge = await start_bridge()
    valid = json.loads(codec.encode(make_event(2, DoorOpened(compartment=1))))
    secret = "PAYLOAD-CONTENT-NEVER-LOGGED"
    bad_messages = [
        ("docbox/v1/boxes/Box_1/events", json.dumps({"v": 1, "note": secret}), "invalid box id in topic"),
        (EVENTS, f"{secret} is not JSON", "not JSON: JSONDecodeError"),
        (EVENTS, json.dumps([secret]), "expected a JSON object"),
        (EVENTS, json.dumps({**valid, "v": 2, "note": secret}), "unsupported schema version 2"),
        (EVENTS, json.dumps({"v": 1, "id": secret}), "invalid Event: id:"),
        (EVENTS, json.dumps({**valid, "box_id": "box-2"}), "box_id 'box-2' in the payload does not match"),
        (topics.topic("box-unknown", Channel.EVENTS), json.dumps({**valid, "box_id": "box-unknown"}),
         "box 'box-unknown' is not registered"),
    ]

    async with mqtt_peer(mosquitto, "publisher") as peer:
        for topic_name, payload, _ in bad_messages:
            await peer.publish(topic_name, payload, qos=1)
        await peer.publish(EVENTS, json.dumps(valid), qos=1)
        await wait_for(bridge.stats, stored=1)

    assert bridge.stats["skipped"] == len(bad_messages)
    assert await stored_seqs(sqlite_sessions) == [2]
    warnings = [r.getMessage() for r in caplog.records if r.name == "docbox_cloud.bridge"]
    assert len(warnings) == len(bad_messages)
    for warning, (topic_name, _, reason) in zip(warnings, bad_messages, strict=True):
        assert topic_name in warning
        assert reason in warning
        assert secret not in warning


async def test_sequence_gap_asks_the_box_for_a_signed_snapshot(
    start_bridge: StartBridge,
    mosquitto: MosquittoServer,
    sqlite_sessions: Sessions,
    signing_key: Ed25519PrivateKey,
) -> None:
    bridge = await start_bridge()

    async with mqtt_peer(mosquitto, "box-1-edge") as edge:
        await edge.subscribe(topics.topic(BOX, Channel.COMMANDS), qos=1)
        await edge.publish(EVENTS, codec.encode(make_event(1, DoorOpened(compartment=1))), qos=1)
        await edge.publish(EVENTS, codec.encode(make_event(4, DoorClosed(compartment=1))), qos=1)
        async with asyncio.timeout(DEADLINE_S):
            message = await anext(aiter(edge.messages))
        assert isinstance(message.payload, bytes)
        command = CommandVerifier([signing_key.public_key()]).verify(
            codec.decode(SignedCommand, message.payload)
        )
        assert command.body == SnapshotAction()
        assert check_window(command, BOX, utcnow()) is None

        # The box answers with a snapshot as of seq 4: it fills in what the gap hid.
        snapshot = make_snapshot(4).model_copy(update={"reason": "requested", "request_id": command.id})
        await edge.publish(topics.topic(BOX, Channel.STATE), codec.encode(snapshot), qos=1, retain=True)
        await wait_for(bridge.stats, snapshot=1)

    assert bridge.stats["snapshot_request"] == 1
    async with transaction(sqlite_sessions) as session:
        row = await session.get(Command, command.id)
        compartments = await boxes.list_compartments(session, BOX)
    assert row is not None
    assert row.action == "snapshot"
    assert [c.state_seq for c in compartments] == [4, 4, 4]


async def test_open_compartment_resolves_when_the_edge_confirms(
    start_bridge: StartBridge,
    mosquitto: MosquittoServer,
    sqlite_sessions: Sessions,
    signing_key: Ed25519PrivateKey,
) -> None:
    bridge = await start_bridge()

    async with running_fake_edge(
        mosquitto, BOX, signing_key.public_key(), answer_with(CommandOutcome.OPENED)
    ) as edge:
        reply = await bridge.open_compartment(BOX, 2)

    assert reply.outcome is CommandOutcome.OPENED
    assert [c.body for c in edge.commands] == [edge.commands[0].body]
    assert edge.commands[0].id == reply.command_id
    assert edge.commands[0].body.model_dump(exclude_none=True) == {"action": "unlock", "compartment": 2}
    async with transaction(sqlite_sessions) as session:
        row = await session.get(Command, reply.command_id)
    assert row is not None
    assert (row.action, row.compartment, row.outcome) == ("unlock", 2, "opened")
    assert row.replied_at is not None


async def test_open_compartment_times_out_when_nobody_answers(
    start_bridge: StartBridge, sqlite_sessions: Sessions
) -> None:
    bridge = await start_bridge(command_timeout_s=0.3)

    with pytest.raises(CommandTimeoutError, match=r"did not confirm within 0\.3 s") as caught:
        await bridge.open_compartment(BOX, 1)

    async with transaction(sqlite_sessions) as session:
        row = await session.get(Command, caught.value.command_id)
    assert row is not None
    assert row.outcome is None


async def test_open_compartment_checks_the_compartment_and_the_connection(
    start_bridge: StartBridge, mosquitto: MosquittoServer
) -> None:
    bridge = await start_bridge()

    with pytest.raises(UnknownCompartmentError):
        await bridge.open_compartment(BOX, 99)

    await asyncio.to_thread(mosquitto.stop)
    await wait_for(bridge.stats, disconnected=1)
    with pytest.raises(BridgeUnavailableError):
        await bridge.open_compartment(BOX, 1)


@pytest.mark.parametrize(
    ("answer", "timeout_s", "status", "body"),
    [
        (CommandOutcome.OPENED, 5.0, 200, {"outcome": "opened", "box_id": BOX, "compartment": 1}),
        (CommandOutcome.REJECTED, 5.0, 409, {"code": "command_rejected", "reason": "door_already_open"}),
        (CommandOutcome.JAMMED, 5.0, 502, {"code": "command_failed"}),
        (None, 0.3, 504, {"code": "command_timeout"}),
    ],
)
async def test_open_endpoint_maps_the_edge_answer(
    start_bridge: StartBridge,
    mosquitto: MosquittoServer,
    signing_key: Ed25519PrivateKey,
    make_settings: Callable[..., CloudSettings],
    answer: CommandOutcome | None,
    timeout_s: float,
    status: int,
    body: dict[str, object],
) -> None:
    bridge = await start_bridge(command_timeout_s=timeout_s)
    app = create_app(make_settings(), bridge=bridge)
    reason = RejectReason.DOOR_ALREADY_OPEN if answer is CommandOutcome.REJECTED else None
    policy = answer_with(answer, reason) if answer else (lambda _command: None)

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://docbox.test") as client,
        running_fake_edge(mosquitto, BOX, signing_key.public_key(), policy),
    ):
        response = await client.post(
            f"/api/v1/boxes/{BOX}/compartments/1/open", headers={"Authorization": f"Bearer {API_TOKEN}"}
        )

    assert response.status_code == status
    assert body.items() <= response.json().items()
    assert uuid.UUID(response.json()["command_id"])


@pytest.mark.allow_error_logs(r"^docbox_cloud\.bridge: database failure while ingesting")
async def test_database_failure_leaves_the_event_unacknowledged_until_it_is_stored(
    start_bridge: StartBridge, mosquitto: MosquittoServer, sqlite_sessions: Sessions
) -> None:
    bridge = await start_bridge()
    async with mqtt_peer(mosquitto, "publisher") as peer:
        await peer.publish(EVENTS, codec.encode(make_event(1, DoorOpened(compartment=1))), qos=1)
        await wait_for(bridge.stats, stored=1)

        async with transaction(sqlite_sessions) as session:
            await session.execute(text("ALTER TABLE events RENAME TO events_away"))
        await peer.publish(EVENTS, codec.encode(make_event(2, DoorClosed(compartment=1))), qos=1)
        await wait_for(bridge.stats, storage_failure=1)
        async with transaction(sqlite_sessions) as session:
            await session.execute(text("ALTER TABLE events_away RENAME TO events"))

        # Only the broker still has event 2: it redelivers it after the bridge reconnects.
        await wait_for(bridge.stats, stored=2)

    assert await stored_seqs(sqlite_sessions) == [1, 2]
    assert await door(sqlite_sessions, 1) == "closed"
    assert bridge.stats["connected"] >= 2


async def test_events_published_while_the_cloud_is_away_arrive_when_it_returns(
    runner: BridgeRunner, mosquitto: MosquittoServer, sqlite_sessions: Sessions
) -> None:
    away = await runner.start(mqtt_client_id="cloud-replica-1")
    await runner.stop(away)

    async with mqtt_peer(mosquitto, "publisher") as peer:
        for seq in (1, 2, 3):
            await peer.publish(EVENTS, codec.encode(make_event(seq, DoorOpened(compartment=seq))), qos=1)
    back = await runner.start(mqtt_client_id="cloud-replica-1")
    await wait_for(back.stats, stored=3)

    assert await stored_seqs(sqlite_sessions) == [1, 2, 3]


async def test_bridge_reconnects_after_a_broker_restart(
    start_bridge: StartBridge, mosquitto: MosquittoServer, sqlite_sessions: Sessions
) -> None:
    bridge = await start_bridge()

    await asyncio.to_thread(mosquitto.kill)
    await wait_for(bridge.stats, disconnected=1)
    await asyncio.to_thread(mosquitto.start)
    await wait_for(bridge.stats, connected=2)
    async with mqtt_peer(mosquitto, "publisher") as peer:
        await peer.publish(EVENTS, codec.encode(make_event(1, DoorOpened(compartment=1))), qos=1)
        await wait_for(bridge.stats, stored=1)

    assert await stored_seqs(sqlite_sessions) == [1]


async def test_app_runs_its_own_bridge_when_mqtt_is_configured(
    mosquitto: MosquittoServer, make_settings: Callable[..., CloudSettings]
) -> None:
    app = create_app(make_settings(mqtt_url=mosquitto.url))

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://docbox.test") as client,
    ):
        bridge: MqttBridge = app.state.bridge
        async with asyncio.timeout(DEADLINE_S):
            await bridge.connected.wait()
        health = (await client.get("/healthz")).json()

    assert health == {"status": "ok", "mqtt": "connected"}
    assert not bridge.connected.is_set(), "the app stops its bridge on shutdown"
