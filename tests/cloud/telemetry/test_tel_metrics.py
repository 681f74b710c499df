"""Prometheus metrics and structured logs of the cloud."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from docbox_cloud.api.app import create_app
from docbox_cloud.bridge import MqttBridge
from docbox_cloud.logging_setup import configure_logging
from docbox_cloud.settings import CloudSettings
from tests.cloud.conftest import API_TOKEN

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def app(make_settings: Callable[..., CloudSettings]) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://docbox.test"
    ) as http:
        yield http


def sample(text: str, name: str) -> float:
    """The value of one sample line ``name{labels} value`` of the exposition text."""
    for line in text.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and line.split(" ")[0] == name):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics:\n{text}")


async def test_metrics_count_requests_and_command_latency(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/boxes", headers=AUTH)).status_code == 200
    assert (await client.get("/api/v1/boxes", headers=AUTH)).status_code == 200
    assert (await client.get("/api/v1/boxes/nope", headers=AUTH)).status_code == 404
    opened = await client.post("/api/v1/boxes/b/compartments/3/open", headers=AUTH)
    assert opened.status_code == 503  # no MQTT here

    response = await client.get("/metrics", headers=AUTH)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert sample(text, 'docbox_http_requests_total{method="GET",route="/api/v1/boxes",status="200"}') == 2
    # Route templates, not paths: label values stay bounded.
    assert (
        sample(text, 'docbox_http_requests_total{method="GET",route="/api/v1/boxes/{box_id}",status="404"}')
        == 1
    )
    assert sample(text, 'docbox_command_duration_seconds_count{outcome="error"}') == 1
    assert sample(text, "docbox_mqtt_connected") == 0
    assert sample(text, 'docbox_alarm_changes_total{change="raised"}') == 0
    assert sample(text, "docbox_alarm_notifications_pending") == 0
    assert "docbox_telemetry_points_total" not in text  # telemetry is disabled here


async def test_metrics_need_the_token_unless_public(
    client: httpx.AsyncClient, make_settings: Callable[..., CloudSettings]
) -> None:
    assert (await client.get("/metrics")).status_code == 401

    public = create_app(make_settings(metrics_public=True))
    async with (
        public.router.lifespan_context(public),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=public), base_url="http://docbox.test") as http,
    ):
        assert (await http.get("/metrics")).status_code == 200


async def test_ingest_and_telemetry_counters_are_exported(
    make_settings: Callable[..., CloudSettings],
) -> None:
    settings = make_settings(mqtt_url="mqtt://127.0.0.1:1", influx_url="http://127.0.0.1:1")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        bridge: MqttBridge = app.state.bridge
        bridge.stats.add("stored", 3)
        bridge.stats.add("telemetry")
        text = app.state.metrics.render().decode()
    assert sample(text, 'docbox_ingest_messages_total{outcome="stored"}') == 3
    assert sample(text, 'docbox_ingest_messages_total{outcome="telemetry"}') == 1
    assert sample(text, 'docbox_telemetry_points_total{outcome="dropped"}') == 0
    assert sample(text, "docbox_telemetry_buffered_points") >= 0


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """Restore the root logger (pytest's capture handlers) after configure_logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_handlers")
def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    log = logging.getLogger("docbox_cloud.test")
    log.info("box %s is online", "box-1", extra={"box_id": "box-1"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.warning("skipping a message", exc_info=True)
    log.debug("not shown at INFO")

    lines = capsys.readouterr().err.strip().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["msg"] == "box box-1 is online"
    assert first["level"] == "INFO"
    assert first["logger"] == "docbox_cloud.test"
    assert first["box_id"] == "box-1"
    assert first["ts"].endswith("+00:00")
    assert "ValueError: boom" in second["exc"]


@pytest.mark.usefixtures("root_handlers")
def test_text_logs_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text", "warning")
    logging.getLogger("uvicorn.error").warning("port in use")
    logging.getLogger("docbox_cloud.x").info("hidden")

    err = capsys.readouterr().err
    assert "WARNING uvicorn.error: port in use" in err
    assert "hidden" not in err
