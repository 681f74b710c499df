"""The bridge hands what it stored to the telemetry writer; a down InfluxDB never blocks ingest."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.bridge import MqttBridge
from docbox_cloud.monitoring import Monitoring
from docbox_cloud.settings import CloudSettings
from docbox_cloud.telemetry.writer import TelemetryWriter
from docbox_protocol import codec, topics
from docbox_protocol.messages import DoorClosed, DoorOpened, LockPulsed, Telemetry
from docbox_protocol.topics import Channel
from tests.cloud.alarms.fakes import RecordingNotifier
from tests.cloud.factories import BOX, T0, add_box, make_event
from tests.cloud.mqtt_peers import mqtt_peer
from tests.support.ports import free_port
from tests.support.services import InfluxServer, MosquittoServer

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
DEADLINE_S = 10.0


@asynccontextmanager
async def bridge_with_monitoring(
    settings: CloudSettings, sessions: Sessions
) -> AsyncIterator[tuple[MqttBridge, TelemetryWriter]]:
    monitoring = Monitoring(settings, sessions, notifier=RecordingNotifier())
    await monitoring.start()
    bridge = MqttBridge(settings, sessions, observers=monitoring.observers)
    task = asyncio.create_task(bridge.run())
    try:
        async with asyncio.timeout(DEADLINE_S):
            await bridge.connected.wait()
        assert monitoring.writer is not None
        yield bridge, monitoring.writer
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await monitoring.aclose()


def settings_for(
    make_settings: Callable[..., CloudSettings], broker: MosquittoServer, influx_url: str
) -> CloudSettings:
    values: dict[str, Any] = {
        "mqtt_url": broker.url,
        "mqtt_client_id": f"cloud-{uuid.uuid4().hex[:6]}",
        "influx_url": influx_url,
        "influx_create_database": True,
        "influx_flush_interval_s": 0.05,
        "influx_timeout_s": 1,
        "telemetry_state_interval_s": 0,
    }
    return make_settings(**values)


async def test_events_and_telemetry_become_points_with_the_unlock_delay(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    sqlite_sessions: Sessions,
    make_settings: Callable[..., CloudSettings],
) -> None:
    await add_box(sqlite_sessions)
    command = uuid.uuid4()
    pulse = make_event(1, LockPulsed(compartment=2, command_id=command, pulse_ms=300))
    opened = make_event(2, DoorOpened(compartment=2, command_id=command))
    opened = opened.model_copy(update={"at": pulse.at + timedelta(seconds=1.5)})
    closed = make_event(3, DoorClosed(compartment=2, open_ms=4000))
    sample = Telemetry(box_id=BOX, at=T0, uptime_s=60, outbox_depth=2, cpu_temp_c=48.5, doors_open=0)

    settings = settings_for(make_settings, mosquitto, influxdb.url)
    async with bridge_with_monitoring(settings, sqlite_sessions) as (bridge, writer):
        async with mqtt_peer(mosquitto, "box") as box:
            for event in (pulse, opened, closed):
                await box.publish(topics.topic(BOX, Channel.EVENTS), codec.encode(event), qos=1)
            await box.publish(topics.topic(BOX, Channel.TELEMETRY), codec.encode(sample), qos=0)
            async with asyncio.timeout(DEADLINE_S):
                await bridge.stats.wait_until(lambda s: s["stored"] == 3 and s["telemetry"] == 1)
        await writer.flush()

    def first(query: str) -> list[Any]:
        values: list[Any] = influxdb.query(query, "docbox")["results"][0]["series"][0]["values"][0]
        return values

    assert first('SELECT "delay_s" FROM "lock" WHERE "event" = \'delay\'')[1] == 1.5
    assert first('SELECT "pulse_ms" FROM "lock" WHERE "event" = \'pulse\'')[1] == 300
    assert first('SELECT "open_s" FROM "door" WHERE "event" = \'closed\'')[1] == 4.0
    assert first('SELECT "cpu_temp_c", "outbox_depth" FROM "box_health"')[1:] == [48.5, 2]
    assert first('SELECT last("door_open"), last("locked") FROM "compartment_state"')[1:] == [0, 1]


async def test_a_down_influxdb_neither_blocks_nor_fails_ingest(
    mosquitto: MosquittoServer,
    sqlite_sessions: Sessions,
    make_settings: Callable[..., CloudSettings],
) -> None:
    await add_box(sqlite_sessions)
    port = free_port()  # nothing listens here until the end of the test
    settings = settings_for(make_settings, mosquitto, f"http://127.0.0.1:{port}")
    async with bridge_with_monitoring(settings, sqlite_sessions) as (bridge, writer):
        async with mqtt_peer(mosquitto, "box") as box:
            for seq in range(1, 41):
                data = DoorOpened(compartment=1, forced=True) if seq % 2 else DoorClosed(compartment=1)
                await box.publish(
                    topics.topic(BOX, Channel.EVENTS), codec.encode(make_event(seq, data)), qos=1
                )
            async with asyncio.timeout(DEADLINE_S):
                await bridge.stats.wait_until(lambda s: s["stored"] == 40)
                await writer.wait_until(lambda stats: stats.failures >= 1)
        assert bridge.stats["storage_failure"] == 0
        assert writer.stats.buffered > 0
        assert writer.stats.written == 0

        influx = InfluxServer(port=port)
        try:
            await asyncio.to_thread(influx.start)
            influx.create_database("docbox")
            async with asyncio.timeout(DEADLINE_S):
                await writer.wait_until(lambda stats: stats.buffered == 0)
            count = influx.query('SELECT count("open") FROM "door"', "docbox")["results"][0]["series"][0]
            assert count["values"][0][1] == 40
        finally:
            influx.close(graceful=False)
