"""Alarms end to end: a simulated box on a real Mosquitto, the cloud's bridge with its alarm
service and telemetry writer, a real InfluxDB; the facilities team's inbox is a recorder."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud import boxes
from docbox_cloud.api.app import create_app
from docbox_cloud.bridge import MqttBridge
from docbox_cloud.db import create_engine, session_factory, transaction
from docbox_cloud.migrate import migrate_async
from docbox_cloud.monitoring import Monitoring
from docbox_cloud.settings import CloudSettings
from docbox_edge.agent import EdgeAgent, EdgeSettings
from docbox_edge.boxconfig import generate_simulated_config
from docbox_edge.hardware.box import build_hardware
from docbox_edge.hardware.mockpins import ExtendedMockFactory
from docbox_edge.hardware.simulated import SimulatedBox
from docbox_protocol.signing import generate_private_key, private_key_pem, public_key_pem
from tests.cloud.alarms.fakes import RecordingNotifier
from tests.support.services import InfluxServer, MosquittoServer

pytestmark = pytest.mark.integration

BOX = "box-alarm"
TOKEN = "alarm-test-token"
DEADLINE_S = 15.0
FACILITIES = "facilities@example.org"


@dataclass
class Cloud:
    """The cloud side: settings, database, monitoring, bridge and an API client."""

    settings: CloudSettings
    sessions: async_sessionmaker[AsyncSession]
    monitoring: Monitoring
    bridge: MqttBridge
    api: httpx.AsyncClient
    inbox: RecordingNotifier


@asynccontextmanager
async def running_cloud(
    mosquitto: MosquittoServer, influxdb: InfluxServer, database_url: str, signing_pem: str, **overrides: Any
) -> AsyncIterator[Cloud]:
    values: dict[str, Any] = {
        "database_url": database_url,
        "mqtt_url": mosquitto.url,
        "mqtt_client_id": "cloud-alarms",
        "signing_key_pem": SecretStr(signing_pem),
        "api_token": SecretStr(TOKEN),
        "influx_url": influxdb.url,
        "influx_create_database": True,
        "influx_flush_interval_s": 0.05,
        "alarm_email_to": [FACILITIES],
        "alarm_offline_grace_s": 0,
        "alarm_language": "en",
        "telemetry_state_interval_s": 0,
    }
    values.update(overrides)
    settings = CloudSettings(_env_file=None, **values)
    await migrate_async(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    async with transaction(sessions) as session:
        await boxes.register_box(session, BOX, "alarm test box")
    inbox = RecordingNotifier()
    monitoring = Monitoring(settings, sessions, notifier=inbox)
    await monitoring.start()
    bridge = MqttBridge(settings, sessions, observers=monitoring.observers)
    bridge_task = asyncio.create_task(bridge.run())
    # The API reads the alarms the bridge stored (its own monitoring stays without telemetry).
    app = create_app(
        settings.model_copy(update={"influx_url": None, "migrate_on_start": False}), bridge=bridge
    )
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://docbox.test",
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as api,
        ):
            async with asyncio.timeout(DEADLINE_S):
                await bridge.connected.wait()
            yield Cloud(settings, sessions, monitoring, bridge, api, inbox)
    finally:
        bridge_task.cancel()
        with suppress(asyncio.CancelledError):
            await bridge_task
        await monitoring.aclose()
        await engine.dispose()


@asynccontextmanager
async def running_box(
    mosquitto: MosquittoServer, data_dir: Path, public_pem: str
) -> AsyncIterator[SimulatedBox]:
    config = generate_simulated_config(BOX, count=6)
    factory = ExtendedMockFactory()
    box = SimulatedBox(config, factory)
    agent = EdgeAgent(
        EdgeSettings(
            box=config,
            broker_host=mosquitto.host,
            broker_port=mosquitto.port,
            data_dir=data_dir,
            public_keys=(public_pem,),
            telemetry_interval_s=0.1,
            left_open_s=0.4,
        ),
        build_hardware(config, factory),
    )
    task = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(DEADLINE_S):
            await agent.connected.wait()
        yield box
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        agent.close()
        box.close()


def subjects(inbox: RecordingNotifier) -> list[str]:
    return [n.subject for n in inbox.sent]


async def test_door_alarms_fire_notify_and_clear_with_a_real_broker(
    mosquitto: MosquittoServer, influxdb: InfluxServer, sqlite_url: str, tmp_path: Path
) -> None:
    key = generate_private_key()
    async with running_cloud(mosquitto, influxdb, sqlite_url, private_key_pem(key).decode()) as cloud:
        async with running_box(
            mosquitto, tmp_path / "edge", public_key_pem(key.public_key()).decode()
        ) as box:
            async with asyncio.timeout(DEADLINE_S):
                await cloud.bridge.stats.wait_until(lambda s: s["snapshot"] >= 1 and s["telemetry"] >= 1)

                box.force_open(3)
                # forced_open at once, then left_open after the box's 0.4 s.
                await cloud.inbox.wait_for(2)
                active = (await cloud.api.get("/api/v1/alarms", params={"active": "true"})).json()
                assert sorted((a["kind"], a["compartment"]) for a in active) == [
                    ("forced_open", 3),
                    ("left_open", 3),
                ]

                box.person_shuts(3)
                await cloud.inbox.wait_for(4)

            assert subjects(cloud.inbox) == [
                f"docbox Alarm: forced open – compartment 3, box {BOX}",
                f"docbox Alarm: door left open – compartment 3, box {BOX}",
                f"docbox Alarm cleared: door left open – compartment 3, box {BOX}",
                f"docbox Alarm cleared: forced open – compartment 3, box {BOX}",
            ]
            assert {n.to for n in cloud.inbox.sent} == {FACILITIES}
            assert (await cloud.api.get("/api/v1/alarms", params={"active": "true"})).json() == []
            history = (await cloud.api.get("/api/v1/alarms")).json()
            assert [(a["kind"], a["active"]) for a in history] == [
                ("left_open", False),
                ("forced_open", False),
            ]

        # The agent shut down: its explicit "offline" raises box_offline (no grace period here).
        async with asyncio.timeout(DEADLINE_S):
            await cloud.inbox.wait_for(5)
        assert subjects(cloud.inbox)[-1] == f"docbox Alarm: box offline – box {BOX}"

        writer = cloud.monitoring.writer
        assert writer is not None
        await writer.flush()

    def rows(query: str) -> list[list[Any]]:
        result = influxdb.query(query, "docbox")["results"][0]
        return [row for series in result.get("series", []) for row in series["values"]]

    alarm_points = [row[1:] for row in rows('SELECT "kind", "active", "compartment" FROM "alarm"')]
    # Raised in turn; both cleared by the same door_closed event (same timestamp, any order).
    assert alarm_points[:2] == [["forced_open", 1, "3"], ["left_open", 1, "3"]]
    assert sorted(alarm_points[2:4]) == [["forced_open", 0, "3"], ["left_open", 0, "3"]]
    assert alarm_points[4:] == [["box_offline", 1, None]]
    assert rows('SELECT last("active_alarms") FROM "box_state"')[0][1] == 1
    door = rows('SELECT "open", "event" FROM "door" WHERE "compartment" = \'3\'')
    assert [row[1:] for row in door] == [[1, "opened"], [0, "closed"]]
    assert rows('SELECT count("uptime_s") FROM "box_health"')[0][1] >= 1


async def test_the_last_will_of_a_killed_box_raises_box_offline(
    mosquitto: MosquittoServer, influxdb: InfluxServer, sqlite_url: str, tmp_path: Path
) -> None:
    key = generate_private_key()
    key_file = tmp_path / "command-key.pem"
    key_file.write_bytes(public_key_pem(key.public_key()))

    def start_edge() -> subprocess.Popen[bytes]:
        command = [
            str(Path(sys.executable).parent / "docbox"), "edge", "run", "--simulate", "--box-id", BOX,
            "--compartments", "4", "--broker", mosquitto.url, "--data-dir", str(tmp_path / "edge"),
            "--public-key", str(key_file), "--telemetry-interval", "0",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCBOX_")}
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async with running_cloud(mosquitto, influxdb, sqlite_url, private_key_pem(key).decode()) as cloud:
        edge = start_edge()
        try:
            async with asyncio.timeout(30):
                await cloud.bridge.stats.wait_until(lambda s: s["status"] >= 1)
                edge.send_signal(signal.SIGKILL)  # no clean "offline": the broker sends the will
                await asyncio.to_thread(edge.wait)
                await cloud.inbox.wait_for(1)
                assert subjects(cloud.inbox) == [f"docbox Alarm: box offline – box {BOX}"]
                (alarm,) = (await cloud.api.get("/api/v1/alarms", params={"active": "true"})).json()
                assert alarm["kind"] == "box_offline"
                assert alarm["compartment"] is None

                edge = start_edge()
                await cloud.inbox.wait_for(2)
                assert subjects(cloud.inbox)[1] == f"docbox Alarm cleared: box offline – box {BOX}"
        finally:
            edge.kill()
            edge.wait()
