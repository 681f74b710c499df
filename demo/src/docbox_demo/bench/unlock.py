"""``docbox bench unlock``: REST open → edge coil on, against a bare MQTT request→reply.

The cloud runs in this process; the box (edge agent on mock pins with a simulated person)
runs in a child process, as it would on its own Raspberry Pi. Both read the same monotonic
clock, so "coil on" minus "request sent" is a true latency.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from docbox_demo.bench.baseline import request_reply_rtts
from docbox_demo.bench.remote_edge import RemoteEdge, RemoteEdgeSpec
from docbox_demo.bench.stats import Latency
from docbox_demo.stack import StackOptions, running_stack
from docbox_edge.agent import parse_broker_url
from docbox_protocol.signing import load_private_key, public_key_pem

BOX = "bench-remote"


async def bench_unlock(
    *, count: int, data_dir: Path, mqtt_url: str | None, database_url: str | None, compartments: int = 200
) -> list[str]:
    """Run ``count`` sequential unlocks; return the report lines."""
    options = StackOptions(
        data_dir=data_dir, mqtt_url=mqtt_url, database_url=database_url, box_id="bench-local", compartments=1
    )
    to_coil: list[float] = []
    to_opened: list[float] = []
    async with running_stack(options) as stack:
        host, port = parse_broker_url(stack.broker_url)
        baseline = await asyncio.to_thread(request_reply_rtts, host, port, count)
        created = await stack.api.post("/api/v1/boxes", json={"box_id": BOX, "name": "benchmark box"})
        if created.status_code != 201:
            raise RuntimeError(f"cannot register {BOX}: {created.text}")
        key = load_private_key(stack.app.state.settings.signing_key_bytes())
        snapshots = stack.bridge.stats["snapshot"]
        edge = RemoteEdge(
            RemoteEdgeSpec(
                broker_url=stack.broker_url,
                box_id=BOX,
                compartments=compartments,
                public_key_pem=public_key_pem(key.public_key()).decode(),
                data_dir=data_dir / "remote-edge",
            )
        )
        await asyncio.to_thread(edge.start)
        try:
            async with asyncio.timeout(30):
                await stack.bridge.stats.wait_until(lambda s: s["snapshot"] > snapshots)
            for i in range(count):
                # Round robin: a compartment comes round again only after `compartments`
                # unlocks, long after its simulated person shut the door (0.1 s after opening
                # it; it must stay open longer than the 30 ms debounce to count).
                number = i % compartments + 1
                started = time.monotonic()
                response = await stack.api.post(f"/api/v1/boxes/{BOX}/compartments/{number}/open")
                finished = time.monotonic()
                if response.status_code != 200:
                    raise RuntimeError(f"unlock {i} failed: {response.status_code} {response.text}")
                coil_number, coil_at = await asyncio.to_thread(edge.next_coil_on)
                if coil_number != number:
                    raise RuntimeError(f"compartment {coil_number} was pulsed instead of {number}")
                to_coil.append(coil_at - started)
                to_opened.append(finished - started)
        finally:
            await asyncio.to_thread(edge.stop)
        broker = "embedded amqtt" if mqtt_url is None else stack.broker_url
        database = "SQLite" if database_url is None else database_url.split("@")[-1]
    base, coil, opened = (
        Latency.of_seconds(baseline),
        Latency.of_seconds(to_coil),
        Latency.of_seconds(to_opened),
    )
    return [
        f"unlock benchmark: {count} sequential unlocks; broker {broker}; database {database}; "
        "box in a child process",
        base.row("baseline: bare MQTT QoS1 request→reply"),
        coil.row("REST open → edge coil on"),
        opened.row("REST open → 200 (door sensor confirmed)"),
        f"  ratio p99 coil-on / baseline p99: {coil.p99_ms / base.p99_ms:.1f}×   goal: p99 ≤ 10 ms "
        f"({'met' if coil.p99_ms <= 10 else 'NOT met'})",
    ]
