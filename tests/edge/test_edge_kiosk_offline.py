"""Offline collection: grants pushed over a real Mosquitto, the broker stopped, an applicant
collects through the kiosk's HTTP API, and the pickup reaches the cloud after the broker is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from docbox_edge.agent import EdgeAgent, EdgeSettings
from docbox_protocol.codec import encode
from docbox_protocol.messages import (
    CommandOutcome,
    CommandReply,
    Event,
    LockPulsed,
    PickupCompleted,
    SignInFailed,
    SignInFailReason,
    utcnow,
)
from docbox_protocol.topics import Channel
from tests.edge.conftest import Keys, Rig
from tests.edge.grant_helpers import ALICE, BOB, grants_action, make_grant
from tests.edge.mqtt_helpers import Listener, RunningAgent, box_topic
from tests.support.mqtt import MqttTestClient
from tests.support.services import MosquittoServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def agent(
    mosquitto: MosquittoServer, rig: Rig, keys: Keys, data_dir: Path
) -> AsyncIterator[RunningAgent]:
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
            "kiosk_port": 0,
        }
    )
    running = RunningAgent(EdgeAgent(settings, rig.hardware))
    yield running
    await running.stop()


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


def has(
    kind: type[Any], predicate: Callable[[Any], bool] = lambda _d: True
) -> Callable[[dict[int, Event]], bool]:
    return lambda got: any(isinstance(e.data, kind) and predicate(e.data) for e in got.values())


async def test_collection_works_with_the_broker_down_and_is_reported_when_it_returns(
    agent: RunningAgent, mosquitto: MosquittoServer, rig: Rig, keys: Keys
) -> None:
    # The cloud's ingest: a persistent session, so it gets what was sent while it was away.
    cloud = MqttTestClient(mosquitto.host, mosquitto.port, "cloud-ingest", clean_session=False).connect()
    cloud.paho.reconnect_delay_set(min_delay=1, max_delay=1)
    try:
        cloud.subscribe(box_topic(Channel.EVENTS), qos=1)
        cloud.subscribe(box_topic(Channel.REPLIES), qos=1)
        listener = Listener(cloud)
        await agent.start()
        grant = make_grant(5)
        expired = make_grant(
            6, BOB, valid_from=utcnow() - timedelta(days=9), valid_until=utcnow() - timedelta(days=1)
        )
        command = keys.signer.sign(keys.command(grants_action(grant, expired, replace_all=True)))
        cloud.publish(box_topic(Channel.COMMANDS), encode(command), qos=1)
        reply = await listener.expect(CommandReply, Channel.REPLIES, lambda r: r.command_id is not None)
        assert reply.outcome is CommandOutcome.DONE

        await asyncio.to_thread(mosquitto.stop)
        async with asyncio.timeout(10):
            await agent.agent.link.disconnected.wait()

        rig.sim.auto_person(open_after_s=0.05, shut_after_s=0.1, compartments=[5])
        await asyncio.wait_for(agent.agent.kiosk_ready.wait(), 5)
        assert agent.agent.kiosk is not None
        url = agent.agent.kiosk.url
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/api/status") as response:
                assert await response.json() == {"online": False}
            wrong = await post(
                http, f"{url}/api/signin", {"login": ALICE.login, "pin": "0000", "dob": "31.12.1990"}
            )
            assert wrong["reason"] == "mismatch"
            too_late = await post(
                http, f"{url}/api/signin", {"login": BOB.login, "pin": BOB.pin, "dob": "02.01.1985"}
            )
            assert too_late["reason"] == "not_valid_now"
            ok = await post(
                http, f"{url}/api/signin", {"login": "0171 2345678", "pin": ALICE.pin, "dob": "31.12.1990"}
            )
            assert ok["ok"], ok
            ref = {"session": ok["session"], "grant_id": str(grant.grant_id)}
            opened = await post(http, f"{url}/api/open", ref)
            assert opened["outcome"] == "opened"
            assert (await post(http, f"{url}/api/handover", ref))["done"]
        assert rig.sim.pulse_count(5) == 1
        assert not rig.coil_was_energised(6)
        assert agent.agent.outbox.depth() >= 5  # failures, pulse, opened, closed, completed

        await asyncio.to_thread(mosquitto.start)
        await agent.wait_connected(within=15)
        arrived = await listener.events_until(has(PickupCompleted), within=30)
        unique = {e.seq: e for e in arrived}
        completed = next(e.data for e in unique.values() if isinstance(e.data, PickupCompleted))
        assert isinstance(completed, PickupCompleted)
        assert (completed.grant_id, completed.compartment, completed.offline) == (grant.grant_id, 5, True)
        pulses = [e.data for e in unique.values() if isinstance(e.data, LockPulsed)]
        assert [p.grant_id for p in pulses] == [grant.grant_id]
        refusals = [e.data.reason for e in unique.values() if isinstance(e.data, SignInFailed)]
        assert refusals == [SignInFailReason.WRONG_SECRET, SignInFailReason.NOT_VALID_NOW]
    finally:
        cloud.disconnect()
