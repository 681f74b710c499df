"""The telemetry writer: batching by size and time, retries, bounded memory, never blocking."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from docbox_cloud.backoff import Backoff
from docbox_cloud.telemetry.client import InfluxClient
from docbox_cloud.telemetry.lineprotocol import Point
from docbox_cloud.telemetry.writer import TelemetryWriter
from tests.support.services import InfluxServer

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DEADLINE_S = 5.0


def sample(n: int) -> Point:
    return Point("m", {"v": n}, T0 + timedelta(seconds=n), {"box": "b"})


class FakeInflux:
    """A mock InfluxDB /write endpoint: records the lines of each batch, can fail or stall."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.failures: list[int | Exception] = []
        self.gate: asyncio.Event | None = None
        self.arrived = asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure, json={"error": "simulated"})
        self.batches.append(gzip.decompress(request.content).decode().split("\n"))
        return httpx.Response(204)

    def values(self) -> list[int]:
        """The ``v`` of every written line, in order."""
        return [int(line.split("v=")[1].split("i")[0]) for batch in self.batches for line in batch]


def make_writer(fake: FakeInflux, **kwargs: object) -> TelemetryWriter:
    client = InfluxClient("http://influx:8086", "docbox", transport=httpx.MockTransport(fake.handle))
    options: dict[str, object] = {"backoff": Backoff(initial=0.01, maximum=0.02), "flush_interval_s": 0.05}
    options.update(kwargs)
    return TelemetryWriter(client, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def running(writer: TelemetryWriter) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(writer.run())
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], bool], fake: FakeInflux) -> None:
    """Wait for ``condition``, re-checking whenever a request arrives (no sleeping)."""
    async with asyncio.timeout(DEADLINE_S):
        while not condition():
            fake.arrived.clear()
            await fake.arrived.wait()
            await asyncio.sleep(0)  # let the writer book the answer


async def test_flush_sends_batches_of_at_most_batch_size() -> None:
    fake = FakeInflux()
    writer = make_writer(fake, batch_size=3, max_buffer=100)

    writer.write(sample(n) for n in range(7))
    await writer.flush()

    assert [len(batch) for batch in fake.batches] == [3, 3, 1]
    assert fake.values() == list(range(7))
    assert writer.stats.written == 7
    assert writer.stats.batches == 3
    assert writer.stats.buffered == 0


async def test_a_full_batch_goes_at_once_and_a_partial_one_after_the_interval() -> None:
    fake = FakeInflux()
    writer = make_writer(fake, batch_size=5, flush_interval_s=0.3)
    async with running(writer):
        started = time.monotonic()
        writer.write(sample(n) for n in range(5))
        await until(lambda: len(fake.batches) == 1, fake)
        assert time.monotonic() - started < 0.25  # did not wait for the interval

        started = time.monotonic()
        writer.write([sample(5)])
        await until(lambda: len(fake.batches) == 2, fake)
        waited = time.monotonic() - started
    assert 0.25 <= waited < 2.0
    assert fake.values() == [0, 1, 2, 3, 4, 5]


async def test_failed_batches_are_retried_with_backoff_until_written() -> None:
    fake = FakeInflux()
    fake.failures = [503, httpx.ConnectError("refused"), 500]
    writer = make_writer(fake, batch_size=10)
    async with running(writer):
        writer.write(sample(n) for n in range(4))
        await until(lambda: writer.stats.written == 4, fake)

    assert fake.values() == [0, 1, 2, 3]
    assert writer.stats.failures == 3
    assert writer.stats.dropped == 0


async def test_rejected_batches_are_dropped_and_counted() -> None:
    fake = FakeInflux()
    fake.failures = [400]
    writer = make_writer(fake, batch_size=2)

    writer.write(sample(n) for n in range(3))
    await writer.flush()

    assert writer.stats.rejected == 2
    assert fake.values() == [2]


async def test_while_influxdb_is_down_memory_is_bounded_and_the_oldest_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeInflux()
    fake.failures = [httpx.ConnectError("refused")] * 1000
    writer = make_writer(fake, batch_size=4, max_buffer=10)
    async with running(writer):
        started = time.monotonic()
        for n in range(100):
            writer.write([sample(n)])  # returns at once even though every write fails
        assert time.monotonic() - started < 0.1
        assert writer.stats.buffered == 10
        assert writer.stats.dropped == 90
        assert writer.overflow_policy == "drop_oldest"

        fake.failures.clear()
        await until(lambda: writer.stats.written == 10, fake)

    assert fake.values() == list(range(90, 100))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum("buffer full" in message for message in warnings) == 1  # once per outage


async def test_lines_dropped_while_their_batch_is_in_flight_are_not_removed_twice() -> None:
    fake = FakeInflux()
    fake.gate = asyncio.Event()
    writer = make_writer(fake, batch_size=4, max_buffer=6)
    writer.write(sample(n) for n in range(4))
    flushing = asyncio.create_task(writer.flush())
    async with asyncio.timeout(DEADLINE_S):
        await fake.arrived.wait()  # batch 0-3 is in flight
    writer.write(sample(n) for n in range(4, 9))  # 9 lines > 6: lines 0-2 are dropped
    fake.gate.set()
    async with asyncio.timeout(DEADLINE_S):
        await flushing

    assert fake.values() == [0, 1, 2, 3, 4, 5, 6, 7, 8]  # the in-flight batch had them already
    assert writer.stats.dropped == 3
    assert writer.stats.buffered == 0


@pytest.mark.integration
async def test_writes_survive_an_influxdb_restart(influxdb: InfluxServer) -> None:
    influxdb.create_database("docbox")
    writer = TelemetryWriter(
        InfluxClient(influxdb.url, "docbox", timeout_s=1),
        batch_size=50,
        flush_interval_s=0.05,
        backoff=Backoff(initial=0.02, maximum=0.1),
    )
    influxdb.kill()
    async with running(writer):
        writer.write(sample(n) for n in range(20))
        async with asyncio.timeout(DEADLINE_S):
            await writer.wait_until(lambda stats: stats.failures >= 2)
            await asyncio.to_thread(influxdb.start)
            await writer.wait_until(lambda stats: stats.written == 20)
    result = influxdb.query('SELECT count("v") FROM "m"', "docbox")
    assert result["results"][0]["series"][0]["values"][0][1] == 20
    await writer.aclose()
