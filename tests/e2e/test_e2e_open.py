"""End to end against real Mosquitto and PostgreSQL: REST open → signed command → coil →
simulated door opens and shuts → every event stored exactly once → REST shows it shut."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg

from docbox_protocol import decode
from docbox_protocol.messages import Event
from docbox_protocol.topics import Channel, topic
from tests.e2e.system import System, running_system
from tests.support.fixtures import PostgresDatabase
from tests.support.mqtt import MqttTestClient
from tests.support.services import MosquittoServer

COMPARTMENT = 3


async def _events(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch("SELECT event_id, seq, kind, compartment, payload FROM events ORDER BY seq")
    finally:
        await conn.close()


async def _open_and_wait_until_shut(system: System) -> dict[str, object]:
    system.box.auto_person(open_after_s=0.05, shut_after_s=0.2, compartments=[COMPARTMENT])
    response = await system.api.post(f"/api/v1/boxes/box-e2e/compartments/{COMPARTMENT}/open")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    # lock_pulsed, door_opened, command_result, door_closed: four events reach the cloud.
    async with asyncio.timeout(10):
        await system.bridge.stats.wait_until(lambda s: s["stored"] >= 4)
    return body


async def test_open_compartment_end_to_end(
    mosquitto: MosquittoServer, postgres_database: PostgresDatabase, tmp_path: Path
) -> None:
    async with running_system(
        database_url=postgres_database.url, mqtt_url=mosquitto.url, data_dir=tmp_path / "edge"
    ) as system:
        before = (await system.api.get("/api/v1/boxes/box-e2e/compartments")).json()
        assert len(before) == 8
        assert all(c["door"] == "closed" and c["locked"] for c in before)

        with MqttTestClient(mosquitto.host, mosquitto.port) as spy:
            spy.subscribe(topic("box-e2e", Channel.EVENTS))
            body = await _open_and_wait_until_shut(system)
            wire: dict[uuid.UUID, bytes] = {}
            while len(wire) < 4:
                raw = spy.expect_message().payload
                wire[decode(Event, raw).id] = bytes(raw)

        assert body["outcome"] == "opened"
        assert body["compartment"] == COMPARTMENT
        # The edge pulsed exactly this coil, once, and no other.
        assert system.box.pulse_count(COMPARTMENT) == 1
        assert all(system.box.pulse_count(n) == 0 for n in system.box.compartments if n != COMPARTMENT)
        assert not system.box.door_is_open(COMPARTMENT)

        rows = await _events(postgres_database.dsn)
        kinds = [r["kind"] for r in rows]
        assert sorted(kinds) == ["command_result", "door_closed", "door_opened", "lock_pulsed"]
        assert kinds.index("lock_pulsed") < kinds.index("door_opened") < kinds.index("door_closed")
        assert len({r["event_id"] for r in rows}) == len(rows)
        assert [r["seq"] for r in rows] == list(range(rows[0]["seq"], rows[0]["seq"] + len(rows)))
        assert {r["compartment"] for r in rows} == {COMPARTMENT}

        after = (await system.api.get("/api/v1/boxes/box-e2e/compartments")).json()
        shut = next(c for c in after if c["number"] == COMPARTMENT)
        assert shut["door"] == "closed"
        assert shut["locked"] is True
        # The state was last set by the door_closed event (a command_result changes no door state).
        assert shut["state_seq"] == next(r["seq"] for r in rows if r["kind"] == "door_closed")
        assert system.agent.outbox.depth() == 0

        # A redelivered event (the broker or the outbox sending it again) changes nothing:
        # replay the door_closed event exactly as it crossed the wire.
        with MqttTestClient(mosquitto.host, mosquitto.port) as peer:
            closed = next(r for r in rows if r["kind"] == "door_closed")
            peer.publish(topic("box-e2e", Channel.EVENTS), wire[closed["event_id"]])
        async with asyncio.timeout(10):
            await system.bridge.stats.wait_until(lambda s: s["duplicate"] >= 1)
        assert len(await _events(postgres_database.dsn)) == len(rows)
        again = (await system.api.get("/api/v1/boxes/box-e2e/compartments")).json()
        assert next(c for c in again if c["number"] == COMPARTMENT) == shut
