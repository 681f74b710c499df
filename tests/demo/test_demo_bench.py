"""The benchmarks run end to end (figures are printed, never asserted: they are not timed tests)."""

from __future__ import annotations

import re
from pathlib import Path

from docbox_demo.bench.ingest import bench_ingest
from docbox_demo.bench.stats import Latency, percentile
from docbox_demo.bench.unlock import bench_unlock
from tests.support.fixtures import PostgresDatabase
from tests.support.services import MosquittoServer


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([3.0], 99) == 3.0
    assert Latency.of_seconds([0.001, 0.002]).max_ms == 2.0


async def test_unlock_benchmark_reports_coil_and_baseline_latencies(
    mosquitto: MosquittoServer, postgres_database: PostgresDatabase, tmp_path: Path
) -> None:
    lines = await bench_unlock(
        count=20,
        data_dir=tmp_path,
        mqtt_url=mosquitto.url,
        database_url=postgres_database.url,
        compartments=10,
    )
    report = "\n".join(lines)
    assert re.search(r"baseline: bare MQTT.*n=20 ", report), report
    assert re.search(r"REST open → edge coil on\s+n=20 ", report), report
    assert "ratio p99 coil-on / baseline p99" in report


async def test_ingest_benchmark_stores_every_event(mosquitto: MosquittoServer, tmp_path: Path) -> None:
    lines = await bench_ingest(count=200, data_dir=tmp_path, mqtt_url=mosquitto.url, database_url=None)
    report = "\n".join(lines)
    assert re.search(r"cloud bridge: events stored exactly once\s+\d+ events/s", report), report
    assert re.search(r"ratio: \d+\.\d+×", report), report
