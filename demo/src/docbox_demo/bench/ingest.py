"""``docbox bench ingest``: events stored per second by one cloud bridge vs a bare subscriber.

A synthetic box publishes ``count`` door events (QoS 1, as the edge's outbox does); the cloud's
bridge stores each exactly once. The baseline is a paho subscriber that only counts the same
stream through the same broker in the same run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from docbox_demo.bench.baseline import connect_client, count_messages
from docbox_demo.stack import StackOptions, running_stack
from docbox_edge.agent import parse_broker_url
from docbox_protocol import encode
from docbox_protocol.messages import (
    CompartmentState,
    DoorClosed,
    DoorOpened,
    DoorPosition,
    Event,
    StateSnapshot,
    utcnow,
)
from docbox_protocol.topics import Channel, topic

SYNTHETIC_BOX = "bench-ingest"
COMPARTMENTS = 50


def _payloads(count: int) -> list[bytes]:
    out = []
    for seq in range(1, count + 1):
        number = (seq - 1) % COMPARTMENTS + 1
        data = DoorOpened(compartment=number, forced=True) if seq % 2 else DoorClosed(compartment=number)
        out.append(
            encode(Event(id=uuid.uuid4(), box_id=SYNTHETIC_BOX, session=1, seq=seq, at=utcnow(), data=data))
        )
    return out


def _publish_all(host: str, port: int, name: str, payloads: list[bytes]) -> None:
    """Publish all payloads at QoS 1 (pipelined, as the edge's outbox does) and await the acks."""
    publisher = connect_client(host, port)
    try:
        infos = [publisher.publish(name, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(60)
    finally:
        publisher.disconnect()
        publisher.loop_stop()


async def bench_ingest(
    *, count: int, data_dir: Path, mqtt_url: str | None, database_url: str | None
) -> list[str]:
    """Publish ``count`` events for a synthetic box; return the report lines."""
    options = StackOptions(
        data_dir=data_dir, mqtt_url=mqtt_url, database_url=database_url, box_id="bench-box", compartments=10
    )
    async with running_stack(options) as stack:
        host, port = parse_broker_url(stack.broker_url)
        created = await stack.api.post("/api/v1/boxes", json={"box_id": SYNTHETIC_BOX, "name": "synthetic"})
        if created.status_code not in (201, 409):
            raise RuntimeError(f"cannot register {SYNTHETIC_BOX}: {created.text}")
        snapshots = stack.bridge.stats["snapshot"]
        snapshot = StateSnapshot(
            box_id=SYNTHETIC_BOX,
            session=1,
            as_of_seq=0,
            at=utcnow(),
            reason="birth",
            compartments=[
                CompartmentState(number=n, door=DoorPosition.CLOSED, locked=True)
                for n in range(1, COMPARTMENTS + 1)
            ],
        )
        await asyncio.to_thread(
            _publish_all, host, port, topic(SYNTHETIC_BOX, Channel.STATE), [encode(snapshot)]
        )
        async with asyncio.timeout(30):
            await stack.bridge.stats.wait_until(lambda s: s["snapshot"] > snapshots)

        baseline_payloads = _payloads(count)
        baseline_topic = f"bench/baseline/{uuid.uuid4().hex[:6]}"
        baseline = await asyncio.to_thread(
            count_messages,
            host,
            port,
            baseline_topic,
            count,
            lambda: _publish_all(host, port, baseline_topic, baseline_payloads),
        )

        payloads = _payloads(count)
        stored_before = stack.bridge.stats["stored"]
        started = time.perf_counter()
        events_topic = topic(SYNTHETIC_BOX, Channel.EVENTS)
        publisher = asyncio.create_task(asyncio.to_thread(_publish_all, host, port, events_topic, payloads))
        async with asyncio.timeout(600):
            await stack.bridge.stats.wait_until(lambda s: s["stored"] - stored_before >= count)
        elapsed = time.perf_counter() - started
        await publisher
        rate = count / elapsed
        broker = "embedded amqtt" if mqtt_url is None else stack.broker_url
        database = "SQLite" if database_url is None else database_url.split("@")[-1]
    return [
        f"ingest benchmark: {count} events; broker {broker}; database {database}",
        f"  baseline: bare paho subscriber counting           {baseline:10.0f} msg/s",
        f"  cloud bridge: events stored exactly once          {rate:10.0f} events/s",
        f"  ratio: {rate / baseline:.3f}×   goal: ≥ 0.5× ({'met' if rate / baseline >= 0.5 else 'NOT met'})",
    ]
