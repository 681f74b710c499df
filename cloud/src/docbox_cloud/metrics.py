"""Prometheus metrics of the cloud: requests, ingest, queue depths, command latency.

Each app has its own registry (several apps in one test process must not collide). HTTP
requests and command latency are measured by a middleware; ingest, telemetry and alarm
counters are read at scrape time from the objects that count them (``MqttBridge.stats``,
``TelemetryWriter.stats``, ``AlarmService.stats``), so nothing on the hot path changes.

``GET /metrics`` requires the API bearer token unless ``metrics_public`` is set (for a
Prometheus on a private network).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from docbox_cloud.api.deps import SettingsDep, require_token

#: The route whose duration is the command round trip (cloud -> box -> door sensor -> cloud).
OPEN_ROUTE = "/api/v1/boxes/{box_id}/compartments/{number}/open"
#: HTTP status of the open route -> command outcome.
_OPEN_OUTCOMES = {200: "opened", 409: "rejected", 502: "jammed", 504: "timeout"}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20)


class CloudMetrics:
    """The metrics of one app."""

    def __init__(self, app: FastAPI) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "docbox_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "docbox_http_request_duration_seconds",
            "HTTP request duration by method and route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.command_duration = Histogram(
            "docbox_command_duration_seconds",
            "Unlock command round trip (REST call to door sensor confirmation) by outcome",
            ["outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(app))

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)


class _StateCollector(Collector):
    """Reads the counters of the bridge, the telemetry writer and the alarm service."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def describe(self) -> list[Any]:
        """Nothing up front: the families depend on what is running."""
        return []

    def collect(self) -> Iterator[Any]:
        """One family per counted thing."""
        state = self._app.state
        bridge = getattr(state, "bridge", None)
        connected = GaugeMetricFamily("docbox_mqtt_connected", "1 while the MQTT bridge is connected")
        connected.add_metric([], 1.0 if bridge is not None and bridge.connected.is_set() else 0.0)
        yield connected
        if bridge is not None:
            ingest = CounterMetricFamily(
                "docbox_ingest_messages", "Messages the bridge handled, by outcome", labels=["outcome"]
            )
            for outcome, count in sorted(bridge.stats.snapshot().items()):
                ingest.add_metric([outcome], count)
            yield ingest
        writer = getattr(state, "telemetry", None)
        if writer is not None:
            stats = writer.stats
            points = CounterMetricFamily(
                "docbox_telemetry_points", "Telemetry points by outcome", labels=["outcome"]
            )
            for outcome in ("accepted", "written", "dropped", "rejected"):
                points.add_metric([outcome], getattr(stats, outcome))
            yield points
            failures = CounterMetricFamily("docbox_telemetry_write_failures", "Failed InfluxDB writes")
            failures.add_metric([], stats.failures)
            yield failures
            buffered = GaugeMetricFamily("docbox_telemetry_buffered_points", "Points waiting for InfluxDB")
            buffered.add_metric([], stats.buffered)
            yield buffered
        alarms = getattr(state, "alarms", None)
        if alarms is not None:
            counts = alarms.stats.snapshot()
            changes = CounterMetricFamily(
                "docbox_alarm_changes", "Alarms raised and cleared", labels=["change"]
            )
            for change in ("raised", "cleared"):
                changes.add_metric([change], counts.get(change, 0))
            yield changes
            sent = CounterMetricFamily(
                "docbox_alarm_notifications", "Alarm notifications by outcome", labels=["outcome"]
            )
            for outcome, key in (
                ("sent", "notified"),
                ("failed", "notify_failed"),
                ("dropped", "notify_dropped"),
            ):
                sent.add_metric([outcome], counts.get(key, 0))
            yield sent
            pending = GaugeMetricFamily(
                "docbox_alarm_notifications_pending", "Notifications waiting to be sent"
            )
            pending.add_metric([], alarms.pending_notifications)
            yield pending


def _route_template(request: Request) -> str:
    """The matched route's path template (bounded label values), or "unmatched"."""
    # Starlette's router records the route it dispatched to in the scope.
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


async def _require_token_unless_public(settings: SettingsDep, request: Request) -> None:
    if not settings.metrics_public:
        # Same check as every /api/v1 route.
        await require_token(settings, await _bearer(request))


_bearer = HTTPBearer(auto_error=False)

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=[Depends(_require_token_unless_public)],
)
async def metrics(request: Request) -> Response:
    """Prometheus exposition format: requests, ingest, telemetry and alarm counters."""
    registry: CloudMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI) -> CloudMetrics:
    """Add the metrics middleware and ``GET /metrics`` to ``app``."""
    metrics_ = CloudMetrics(app)
    app.state.metrics = metrics_

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(request)
            metrics_.requests.labels(request.method, route, str(status)).inc()
            metrics_.request_duration.labels(request.method, route).observe(elapsed)
            if route == OPEN_ROUTE and request.method == "POST":
                metrics_.command_duration.labels(_OPEN_OUTCOMES.get(status, "error")).observe(elapsed)

    app.include_router(router)
    return metrics_
