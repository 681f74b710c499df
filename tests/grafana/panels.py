"""Grafana's side of the dashboards, as far as the tests need it: loading the JSON, finding
every query, and substituting template variables the way Grafana's InfluxDB datasource does."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "grafana" / "dashboards"
PROVISIONING = REPO / "grafana" / "provisioning"

#: Grafana escapes these in variable values interpolated into an InfluxQL regex.
_REGEX_SPECIALS = re.compile(r"([\\^$*+?.()|\[\]{}/])")


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel (or annotation) of one dashboard."""

    dashboard: str  # file name
    panel: str  # panel title, or "annotation: <name>", or "variable: <name>"
    ref_id: str
    query: str
    result_format: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dashboard, self.panel, self.ref_id)


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(path.read_text())
    return content


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries() -> list[PanelQuery]:
    """Every query of every dashboard: panel targets, annotations and variables."""
    found: list[PanelQuery] = []
    for path in dashboard_files():
        dashboard = load(path)
        for panel in all_panels(dashboard):
            for target in panel.get("targets", []):
                found.append(
                    PanelQuery(
                        path.name, panel["title"], target["refId"], target["query"], target["resultFormat"]
                    )
                )
        for annotation in dashboard["annotations"]["list"]:
            if annotation.get("datasource", {}).get("type") == "influxdb":
                found.append(
                    PanelQuery(
                        path.name, f"annotation: {annotation['name']}", "Anno", annotation["query"], "table"
                    )
                )
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                found.append(
                    PanelQuery(path.name, f"variable: {variable['name']}", "var", variable["query"], "table")
                )
    return found


def regex_value(values: Sequence[str]) -> str:
    """A multi-value (or "All") variable inside ``/^$var$/``: ``(a|b)``, each value escaped."""
    escaped = [_REGEX_SPECIALS.sub(r"\\\1", value) for value in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def render(
    query: str, *, start: datetime, end: datetime, interval: str, variables: dict[str, Sequence[str]]
) -> str:
    """The query as Grafana sends it: time filter, interval and variables substituted."""
    start_ms = int(start.timestamp() * 1000)
    end_ms = int(end.timestamp() * 1000)
    rendered = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    rendered = rendered.replace("$__interval_ms", str(_interval_ms(interval)))
    rendered = rendered.replace("$__interval", interval)
    for name, values in variables.items():
        replacement = regex_value(values).replace("\\", "\\\\")
        rendered = re.sub(rf"\$\{{{name}\}}|\${name}\b", replacement, rendered)
    leftover = re.findall(r"\$\w+", rendered)
    assert not leftover, f"unsubstituted variables {leftover} in {query!r}"
    return rendered


def _interval_ms(interval: str) -> int:
    number, unit = int(interval[:-1]), interval[-1]
    return number * {"s": 1000, "m": 60_000, "h": 3_600_000}[unit]
