"""Grafana provisioning files: an InfluxQL datasource with secrets from the environment, and a
dashboard provider."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.grafana.panels import PROVISIONING, dashboard_files, load


def read(relative: str) -> dict[str, Any]:
    content: dict[str, Any] = yaml.safe_load((PROVISIONING / relative).read_text())
    return content


def test_datasource_is_influxql_with_secrets_from_the_environment() -> None:
    (datasource,) = read("datasources/docbox.yaml")["datasources"]
    assert datasource["type"] == "influxdb"
    assert datasource["uid"] == "docbox-influxdb"
    assert datasource["jsonData"]["version"] == "InfluxQL"
    assert datasource["editable"] is False
    for value in (datasource["url"], datasource["user"], datasource["jsonData"]["dbName"]):
        assert re.fullmatch(r"\$\{[A-Z_]+\}", value), value
    assert re.fullmatch(r"\$\{[A-Z_]+\}", datasource["secureJsonData"]["password"])
    assert "password" not in datasource  # only in secureJsonData, encrypted by Grafana


def test_every_dashboard_uses_the_provisioned_datasource() -> None:
    (datasource,) = read("datasources/docbox.yaml")["datasources"]
    for path in dashboard_files():
        text = path.read_text()
        uids = set(re.findall(r'"uid": "([^"]+)"', text)) - {load(path)["uid"], "-- Grafana --"}
        assert uids == {datasource["uid"]}, path.name


def test_dashboard_provider_loads_files_read_only() -> None:
    (provider,) = read("dashboards/docbox.yaml")["providers"]
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False
    assert provider["disableDeletion"] is True
    assert provider["options"]["path"].startswith("/")
