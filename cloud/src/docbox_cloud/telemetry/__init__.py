"""Telemetry: door, lock, alarm and health points written to InfluxDB for Grafana.

- :mod:`~docbox_cloud.telemetry.lineprotocol` — :class:`Point` and its line-protocol form;
- :mod:`~docbox_cloud.telemetry.client` — :class:`InfluxClient` for the v1 HTTP API;
- :mod:`~docbox_cloud.telemetry.writer` — :class:`TelemetryWriter`, batching in the background;
- :mod:`~docbox_cloud.telemetry.points` — the schema (docs/telemetry.md);
- :mod:`~docbox_cloud.telemetry.observer` — points from what ingest stored;
- :mod:`~docbox_cloud.telemetry.state` — periodic full state points from the database.

Other domain code (the pickup workflow) writes its own points through the writer, e.g.
``writer.write([points.pickup(box_id, compartment, at)])``.
"""

from __future__ import annotations

import httpx

from docbox_cloud.settings import CloudSettings
from docbox_cloud.telemetry.client import InfluxClient, InfluxError, Series
from docbox_cloud.telemetry.lineprotocol import Point, PointError
from docbox_cloud.telemetry.writer import TelemetryWriter, WriterStats


def writer_from_settings(
    settings: CloudSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> TelemetryWriter | None:
    """Build the telemetry writer the settings describe; None when ``influx_url`` is unset."""
    if settings.influx_url is None:
        return None
    client = InfluxClient(
        settings.influx_url,
        settings.influx_database,
        username=settings.influx_username,
        password=settings.influx_password,
        timeout_s=settings.influx_timeout_s,
        transport=transport,
    )
    return TelemetryWriter(
        client,
        batch_size=settings.influx_batch_size,
        flush_interval_s=settings.influx_flush_interval_s,
        max_buffer=max(settings.influx_max_buffer, settings.influx_batch_size),
    )


__all__ = [
    "InfluxClient",
    "InfluxError",
    "Point",
    "PointError",
    "Series",
    "TelemetryWriter",
    "WriterStats",
    "writer_from_settings",
]
