"""Telemetry: line protocol, InfluxDB client, writer, points, bridge hook."""
