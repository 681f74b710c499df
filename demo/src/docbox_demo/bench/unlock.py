"""``docbox bench unlock``: REST open → edge coil on, against a bare MQTT request→reply.

Everything runs in one process, so the coil's switch-on time (seen by an observer on the mock
pin) and the REST request's start share one clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from docbox_demo.bench.baseline import request_reply_rtts
from docbox_demo.bench.stats import Latency
from docbox_demo.stack import StackOptions, running_stack
from docbox_edge.agent import parse_broker_url
from docbox_edge.hardware.mockpins import PinObserver, SimulatedPin


async def bench_unlock(
    *, count: int, data_dir: Path, mqtt_url: str | None, database_url: str | None, compartments: int = 200
) -> list[str]:
    """Run ``count`` sequential unlocks; return the report lines."""
    options = StackOptions(
        data_dir=data_dir,
        mqtt_url=mqtt_url,
        database_url=database_url,
        box_id="bench-box",
        compartments=compartments,
    )
    coil_on: dict[int, float] = {}
    to_coil: list[float] = []
    to_opened: list[float] = []
    async with running_stack(options) as stack:
        host, port = parse_broker_url(stack.broker_url)
        baseline = await asyncio.to_thread(request_reply_rtts, host, port, count)
        stack.box.auto_person(open_after_s=0.002, shut_after_s=0.1)
        for c in stack.config.compartments:
            pin: SimulatedPin = stack.factory.pin(c.lock_pin)
            pin.add_observer(_recorder(c.number, coil_on))
        numbers: Sequence[int] = [c.number for c in stack.config.compartments]
        for i in range(count):
            # Round robin: a compartment comes round again only after len(numbers) unlocks, long
            # after its simulated person shut the door (0.1 s after opening it; it must stay open
            # longer than the 30 ms debounce to count).
            number = numbers[i % len(numbers)]
            coil_on.pop(number, None)
            started = time.perf_counter()
            response = await stack.api.post(f"/api/v1/boxes/{stack.config.box_id}/compartments/{number}/open")
            finished = time.perf_counter()
            if response.status_code != 200:
                raise RuntimeError(f"unlock {i} failed: {response.status_code} {response.text}")
            to_coil.append(coil_on[number] - started)
            to_opened.append(finished - started)
            if i % 100 == 99:
                stack.factory.clear_states()  # MockPin histories grow forever otherwise
        broker = "embedded amqtt" if mqtt_url is None else stack.broker_url
        database = "SQLite" if database_url is None else database_url.split("@")[-1]
    base, coil, opened = (
        Latency.of_seconds(baseline),
        Latency.of_seconds(to_coil),
        Latency.of_seconds(to_opened),
    )
    return [
        f"unlock benchmark: {count} sequential unlocks; broker {broker}; database {database}",
        base.row("baseline: bare MQTT QoS1 request→reply"),
        coil.row("REST open → edge coil on"),
        opened.row("REST open → 200 (door sensor confirmed)"),
        f"  ratio p99 coil-on / baseline p99: {coil.p99_ms / base.p99_ms:.1f}×   goal: p99 ≤ 10 ms "
        f"({'met' if coil.p99_ms <= 10 else 'NOT met'})",
    ]


def _recorder(number: int, sink: dict[int, float]) -> PinObserver:
    def observer(_pin: SimulatedPin, level: bool) -> None:
        if level and number not in sink:
            sink[number] = time.perf_counter()

    return observer
