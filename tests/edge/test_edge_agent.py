"""The whole agent against a real Mosquitto, with the real drivers on a simulated box."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from docbox_edge.agent import EdgeAgent, EdgeSettings
from docbox_edge.hardware.box import build_hardware
from docbox_protocol.codec import encode
from docbox_protocol.messages import (
    BoxState,
    BoxStatus,
    CommandOutcome,
    CommandReply,
    DoorClosed,
    Event,
    RejectReason,
    SnapshotAction,
    StateSnapshot,
    Telemetry,
    UnlockAction,
)
from docbox_protocol.topics import Channel
from tests.edge.conftest import BOX_ID, COMPARTMENTS, Keys, Rig
from tests.edge.mqtt_helpers import Listener, RunningAgent, box_topic, wait_for_flag
from tests.support.mqtt import MqttTestClient
from tests.support.services import MosquittoServer

pytestmark = pytest.mark.integration

AgentFactory = Callable[..., RunningAgent]


@pytest.fixture
async def make_agent(
    mosquitto: MosquittoServer, rig: Rig, keys: Keys, data_dir: Path
) -> AsyncIterator[AgentFactory]:
    """Build (not start) agents on the test's broker, box and data folder."""
    running: list[RunningAgent] = []

    def make(**overrides: object) -> RunningAgent:
        settings = EdgeSettings.model_validate(
            {
                "box": rig.config,
                "broker_host": mosquitto.host,
                "broker_port": mosquitto.port,
                "data_dir": data_dir,
                "public_keys": (keys.trusted_pem,),
                "unlock_confirm_s": 2.0,
                "telemetry_interval_s": 0,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.5,
                **overrides,
            }
        )
        agent = RunningAgent(EdgeAgent(settings, rig.hardware))
        running.append(agent)
        return agent

    yield make
    for agent in running:
        await agent.stop()


@pytest.fixture
def client(mosquitto: MosquittoServer) -> Iterator[MqttTestClient]:
    """A cloud-side client: subscribes to the box's topics, publishes commands."""
    with MqttTestClient(mosquitto.host, mosquitto.port) as c:
        yield c


def subscribe(client: MqttTestClient, *channels: Channel) -> Listener:
    for channel in channels:
        client.subscribe(box_topic(channel), qos=1)
    return Listener(client)


async def publish(client: MqttTestClient, payload: bytes) -> None:
    await asyncio.to_thread(client.publish, box_topic(Channel.COMMANDS), payload, 1)


# --------------------------------------------------------------------------- birth


async def test_birth_status_and_snapshot_are_retained(
    make_agent: AgentFactory, client: MqttTestClient
) -> None:
    agent = make_agent()
    await agent.start()
    # Subscribing after the birth: only retained messages can arrive.
    listener = subscribe(client, Channel.STATUS, Channel.STATE)

    status = await listener.expect(BoxStatus, Channel.STATUS)
    assert status.state is BoxState.ONLINE
    assert (status.box_id, status.session, status.compartments) == (BOX_ID, 1, COMPARTMENTS)
    assert status.agent_version
    snapshot = await listener.expect(StateSnapshot, Channel.STATE)
    assert (snapshot.reason, snapshot.session, snapshot.as_of_seq) == ("birth", 1, 0)
    assert [c.number for c in snapshot.compartments] == list(range(1, COMPARTMENTS + 1))
    assert all(c.door == "closed" and c.locked for c in snapshot.compartments)
    assert all(message.retain for message in listener.received)
    # Nagle off on the agent's MQTT socket (DESIGN.md: it doubles every round trip).
    mqtt_client = agent.agent.link._client
    assert mqtt_client is not None
    sock = mqtt_client._client.socket()
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


# --------------------------------------------------------------------------- commands


async def test_signed_unlock_via_the_broker_opens_the_door_and_reports_in_order(
    make_agent: AgentFactory, client: MqttTestClient, rig: Rig, keys: Keys
) -> None:
    agent = make_agent()
    await agent.start()
    listener = subscribe(client, Channel.EVENTS, Channel.REPLIES)
    rig.sim.auto_person(open_after_s=0.02, shut_after_s=0.1)
    signed = keys.unlock(3)

    await publish(client, encode(signed))

    reply = await listener.expect(CommandReply, Channel.REPLIES)
    assert reply.outcome is CommandOutcome.OPENED
    events = await listener.events_until(
        lambda got: any(isinstance(e.data, DoorClosed) for e in got.values())
    )
    assert [e.data.kind for e in events] == ["lock_pulsed", "door_opened", "command_result", "door_closed"]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert all(e.box_id == BOX_ID and e.session == 1 for e in events)
    assert rig.sim.pulse_count(3) == 1
    await wait_for_flag(agent.agent.outbox.acked, lambda: agent.agent.outbox.depth() == 0)


async def test_malformed_commands_are_logged_and_the_loop_survives(
    make_agent: AgentFactory,
    client: MqttTestClient,
    rig: Rig,
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    agent = make_agent()
    await agent.start()
    listener = subscribe(client, Channel.REPLIES)
    rig.sim.auto_person(open_after_s=0.02, shut_after_s=None)
    garbage = [b"garbage", b"", b'{"v": 1}', b"\xff\xfe\x00", b"[]", b'{"v": 1, "key_id": 5}']

    with caplog.at_level(logging.WARNING, logger="docbox_edge"):
        for payload in garbage:
            await publish(client, payload)
        for _ in garbage:
            reply = await listener.expect(CommandReply, Channel.REPLIES)
            assert reply.outcome is CommandOutcome.REJECTED
            assert reply.reason is RejectReason.MALFORMED
            assert reply.command_id is None

        await publish(client, encode(keys.unlock(1)))
        reply = await listener.expect(CommandReply, Channel.REPLIES)

    assert reply.outcome is CommandOutcome.OPENED
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "malformed" in r.getMessage()]
    assert len(warnings) == len(garbage)
    assert rig.sim.pulse_count(1) == 1
    assert agent.agent.connected.is_set()


async def test_forged_and_replayed_commands_via_the_broker_energise_nothing(
    make_agent: AgentFactory, client: MqttTestClient, rig: Rig, keys: Keys
) -> None:
    agent = make_agent()
    await agent.start()
    listener = subscribe(client, Channel.REPLIES)
    rig.sim.auto_person(open_after_s=0.02, shut_after_s=0.05)

    valid = keys.unlock(2)
    await publish(client, encode(valid))
    assert (await listener.expect(CommandReply, Channel.REPLIES)).outcome is CommandOutcome.OPENED
    pulses_before = rig.pulses()

    await publish(client, encode(valid))  # replay
    await publish(client, encode(keys.forger.sign(keys.forger.command(BOX_ID, UnlockAction(compartment=2)))))
    reasons = {(await listener.expect(CommandReply, Channel.REPLIES)).reason for _ in range(2)}
    assert reasons == {RejectReason.REPLAYED, RejectReason.UNKNOWN_KEY}
    assert rig.pulses() == pulses_before == 1


async def test_snapshot_command_publishes_a_requested_snapshot(
    make_agent: AgentFactory, client: MqttTestClient, keys: Keys
) -> None:
    agent = make_agent()
    await agent.start()
    listener = subscribe(client, Channel.REPLIES, Channel.STATE)
    await listener.expect(StateSnapshot, Channel.STATE)  # the retained birth snapshot
    command = keys.command(SnapshotAction())

    await publish(client, encode(keys.signer.sign(command)))

    snapshot = await listener.expect(StateSnapshot, Channel.STATE, lambda s: s.reason == "requested")
    assert snapshot.request_id == command.id
    reply = await listener.expect(CommandReply, Channel.REPLIES)
    assert (reply.outcome, reply.command_id) == (CommandOutcome.DONE, command.id)


async def test_telemetry_is_published(make_agent: AgentFactory, client: MqttTestClient, rig: Rig) -> None:
    listener = subscribe(client, Channel.TELEMETRY)
    agent = make_agent(telemetry_interval_s=0.05)
    await agent.start()
    sample = await listener.expect(Telemetry, Channel.TELEMETRY)
    assert sample.box_id == BOX_ID
    assert sample.outbox_depth >= 0
    assert sample.disk_free_bytes is not None
    assert sample.disk_free_bytes > 0
    assert sample.doors_open == 0
    second = await listener.expect(Telemetry, Channel.TELEMETRY)
    assert second.uptime_s >= sample.uptime_s


# --------------------------------------------------------------------------- outages


async def test_broker_restart_loses_no_event(
    make_agent: AgentFactory, mosquitto: MosquittoServer, rig: Rig
) -> None:
    # The cloud's ingest: a persistent session, so the broker keeps its messages while
    # either side is away.
    cloud = MqttTestClient(mosquitto.host, mosquitto.port, "cloud-ingest", clean_session=False).connect()
    cloud.paho.reconnect_delay_set(min_delay=1, max_delay=1)
    try:
        cloud.subscribe(box_topic(Channel.EVENTS), qos=1)
        listener = Listener(cloud)
        agent = make_agent()
        await agent.start()
        outbox = agent.agent.outbox

        # A burst in flight when the broker goes away ...
        for n in range(300):
            outbox.append(DoorClosed(compartment=1 + n % COMPARTMENTS, open_ms=n))
        await asyncio.to_thread(mosquitto.stop)

        # ... and door events while it is down: each forced door gives opened, alarm,
        # closed, alarm cleared.
        for number in (1, 2, 3):
            rig.sim.force_open(number)
        await wait_for_flag(outbox.appended, lambda: outbox.last_seq() >= 300 + 3 * 2)
        for number in (1, 2, 3):
            rig.sim.person_shuts(number)
        total = 300 + 3 * 4
        await wait_for_flag(outbox.appended, lambda: outbox.last_seq() >= total)
        assert outbox.depth() > 0

        await asyncio.to_thread(mosquitto.start)
        await agent.wait_connected(within=15)
        arrived = await listener.events_until(lambda got: len(got) >= total, within=30)

        by_id: dict[object, Event] = {}
        for event in arrived:
            by_id.setdefault(event.id, event)
        unique = list(by_id.values())
        assert sorted(e.seq for e in unique) == list(range(1, total + 1)), "each seq exactly once"
        assert [e.seq for e in unique] == sorted(e.seq for e in unique), "in sequence order"
        kinds = [e.data.kind for e in unique[300:]]
        assert kinds.count("door_opened") == 3
        assert kinds.count("door_closed") == 3
        await wait_for_flag(outbox.acked, lambda: outbox.depth() == 0)
        assert agent.agent.outbox.session >= 2  # one per connection attempt
    finally:
        cloud.disconnect()


async def test_agent_started_while_the_broker_is_down_connects_later(
    make_agent: AgentFactory, mosquitto: MosquittoServer, caplog: pytest.LogCaptureFixture
) -> None:
    mosquitto.stop()
    agent = make_agent()
    with caplog.at_level(logging.WARNING, logger="docbox_edge.link"):
        await agent.start(wait_connected=False)
        agent.agent.outbox.append(DoorClosed(compartment=1))
        await asyncio.sleep(0.5)  # an outage of half a second: several reconnect attempts
        await asyncio.to_thread(mosquitto.start)
        await agent.wait_connected(within=10)
    failures = [r for r in caplog.records if r.name == "docbox_edge.link" and r.levelno == logging.WARNING]
    # Every attempt failed the same way; that is logged once, not once per attempt.
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert "refused" in failures[0].getMessage().lower()
    await wait_for_flag(agent.agent.outbox.acked, lambda: agent.agent.outbox.depth() == 0)


async def test_last_will_reports_offline_when_the_connection_dies(
    make_agent: AgentFactory, client: MqttTestClient
) -> None:
    agent = make_agent()
    await agent.start()
    listener = subscribe(client, Channel.STATUS)
    assert (await listener.expect(BoxStatus, Channel.STATUS)).session == 1

    # Cut the TCP connection under the agent, as a network failure would: no DISCONNECT.
    mqtt_client = agent.agent.link._client
    assert mqtt_client is not None
    sock = mqtt_client._client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)

    will = await listener.expect(BoxStatus, Channel.STATUS, lambda s: s.state is BoxState.OFFLINE)
    assert will.session == 1
    rebirth = await listener.expect(BoxStatus, Channel.STATUS, lambda s: s.state is BoxState.ONLINE)
    assert rebirth.session == 2


async def test_clean_shutdown_publishes_offline(make_agent: AgentFactory, client: MqttTestClient) -> None:
    agent = make_agent()
    await agent.start()
    listener = subscribe(client, Channel.STATUS)
    assert (await listener.expect(BoxStatus, Channel.STATUS)).state is BoxState.ONLINE

    await agent.stop()

    offline = await listener.expect(BoxStatus, Channel.STATUS)
    assert (offline.state, offline.session) == (BoxState.OFFLINE, 1)


async def test_all_outputs_are_switched_off_at_start(make_agent: AgentFactory, rig: Rig) -> None:
    # As if the previous run had crashed mid-pulse: a coil output left high.
    rig.coil_pin(4).state = True  # type: ignore[attr-defined]
    assert rig.hardware.coil_is_on(4)
    agent = make_agent()
    await agent.start(wait_connected=False)
    assert not any(rig.hardware.coil_is_on(c.number) for c in rig.config.compartments)


async def test_all_outputs_are_off_after_the_agent_stops(
    make_agent: AgentFactory, rig: Rig, keys: Keys
) -> None:
    agent = make_agent()
    await agent.start()
    await agent.stop()
    assert not any(bool(rig.coil_pin(c.number).state) for c in rig.config.compartments)  # type: ignore[attr-defined]


async def test_events_recorded_offline_survive_an_agent_restart(
    make_agent: AgentFactory, mosquitto: MosquittoServer, rig: Rig
) -> None:
    cloud = MqttTestClient(mosquitto.host, mosquitto.port, "cloud-ingest", clean_session=False).connect()
    cloud.paho.reconnect_delay_set(min_delay=1, max_delay=1)
    try:
        cloud.subscribe(box_topic(Channel.EVENTS), qos=1)
        mosquitto.stop()

        first = make_agent()
        await first.start(wait_connected=False)
        rig.sim.force_open(1)  # door_opened(forced) + forced_open alarm
        outbox = first.agent.outbox
        await wait_for_flag(outbox.appended, lambda: outbox.last_seq() >= 2)
        await first.stop()  # never connected: both events are still in the outbox

        # The restarted agent: new drivers on the same pins, same data folder.
        rig.hardware = build_hardware(rig.config, rig.factory)
        second = make_agent()
        await second.start(wait_connected=False)
        rig.sim.person_shuts(1)
        outbox = second.agent.outbox
        await wait_for_flag(outbox.appended, lambda: outbox.last_seq() >= 3)

        await asyncio.to_thread(mosquitto.start)
        await second.wait_connected(within=15)
        arrived = await Listener(cloud).events_until(lambda got: len(got) >= 3)
        assert [e.seq for e in arrived] == [1, 2, 3]
        # The restarted agent found the door open: it knows neither since when nor why
        # (its birth snapshot carries the alarms it knows: none).
        assert [e.data.kind for e in arrived] == ["door_opened", "alarm", "door_closed"]
        closed = arrived[2].data
        assert isinstance(closed, DoorClosed)
        assert closed.open_ms is None
        await wait_for_flag(outbox.acked, lambda: outbox.depth() == 0)
    finally:
        cloud.disconnect()
