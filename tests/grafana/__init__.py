"""Grafana provisioning and dashboards against a real InfluxDB."""
