"""The InfluxDB v1 client: requests it sends, errors it maps; and against a real InfluxDB."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from docbox_cloud.telemetry.client import InfluxClient, InfluxError
from tests.support.services import InfluxServer, ServiceUnavailable

BODY = b"m,box=b v=1i 1000000000"


def recording(status: int = 204, body: object = None) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A mock transport answering ``status`` (and a JSON ``body``) and recording requests."""
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, json=body) if body is not None else httpx.Response(status)

    return httpx.MockTransport(handle), requests


async def test_write_posts_gzipped_line_protocol_with_basic_auth() -> None:
    transport, requests = recording()
    client = InfluxClient(
        "http://influx:8086/", "docbox", username="writer", password=SecretStr("s3cret"), transport=transport
    )

    await client.write(BODY)
    await client.aclose()

    (request,) = requests
    assert request.method == "POST"
    assert request.url.path == "/write"
    assert dict(request.url.params) == {"db": "docbox", "precision": "ns"}
    assert request.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(request.content) == BODY
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"writer:s3cret").decode()
    assert "s3cret" not in str(request.url)


async def test_password_without_user_is_sent_as_token_and_rp_is_passed() -> None:
    transport, requests = recording()
    client = InfluxClient(
        "http://influx:8086",
        "docbox",
        password=SecretStr("tok"),
        retention_policy="week",
        gzip_level=0,
        transport=transport,
    )

    await client.write(BODY)

    assert requests[0].headers["Authorization"] == "Token tok"
    assert requests[0].url.params["rp"] == "week"
    assert requests[0].content == BODY
    assert "Content-Encoding" not in requests[0].headers


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, True), (404, True), (413, False), (429, True), (500, True), (503, True)],
)
async def test_write_errors_say_whether_a_retry_can_help(status: int, retryable: bool) -> None:
    transport, _ = recording(status, {"error": "unable to parse 'x': bad timestamp"})
    client = InfluxClient("http://influx:8086", "docbox", transport=transport)

    with pytest.raises(InfluxError) as caught:
        await client.write(BODY)

    assert caught.value.retryable is retryable
    assert caught.value.status == status
    assert f"HTTP {status}" in str(caught.value)


async def test_unreachable_server_is_a_retryable_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = InfluxClient("http://influx:8086", "docbox", transport=httpx.MockTransport(refuse))

    with pytest.raises(InfluxError, match="unreachable: ConnectError") as caught:
        await client.write(BODY)
    assert caught.value.retryable
    assert await client.ping() is False


async def test_query_returns_series_and_reports_statement_errors() -> None:
    answer = {
        "results": [
            {
                "statement_id": 0,
                "series": [{"name": "m", "tags": {"box": "b"}, "columns": ["time", "v"], "values": [[1, 2]]}],
            }
        ]
    }
    transport, requests = recording(200, answer)
    client = InfluxClient("http://influx:8086", "docbox", transport=transport)

    (series,) = await client.query("SELECT v FROM m GROUP BY box")

    assert series.tags == {"box": "b"}
    assert series.records() == [{"time": 1, "v": 2}]
    form = dict(httpx.QueryParams(requests[0].content.decode()))
    assert form == {"q": "SELECT v FROM m GROUP BY box", "epoch": "s", "db": "docbox"}

    failing, _ = recording(200, {"results": [{"statement_id": 0, "error": "database not found: x"}]})
    with pytest.raises(InfluxError, match="database not found"):
        await InfluxClient("http://i", "x", transport=failing).query("SELECT 1")


@pytest.mark.integration
async def test_against_a_real_influxdb(influxdb: InfluxServer) -> None:
    client = InfluxClient(influxdb.url, "docbox")
    assert await client.ping()
    await client.create_database()

    await client.write(b"m,box=b v=1i 1000000000\nm,box=c v=2i 2000000000")
    series = await client.query('SELECT sum("v") FROM "m" GROUP BY "box"')
    assert {s.tags["box"]: s.values[0][1] for s in series} == {"b": 1, "c": 2}

    with pytest.raises(InfluxError) as caught:
        await client.write(b"m,box=b v=not-a-value 3000000000")
    assert caught.value.status == 400
    assert not caught.value.retryable

    missing = InfluxClient(influxdb.url, "nope")
    with pytest.raises(InfluxError) as caught:
        await missing.write(b"m v=1i 1")
    assert caught.value.status == 404
    assert caught.value.retryable
    await client.aclose()
    await missing.aclose()


def test_a_missing_influxd_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(ServiceUnavailable, match=r"apt-get install influxdb"):
        InfluxServer(binary=str(tmp_path / "no-influxd"))
