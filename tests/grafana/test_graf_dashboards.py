"""Every dashboard panel's query, run against a real InfluxDB holding a simulated day written
by the real telemetry writer, returns that day's numbers."""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from docbox_cloud.db import create_engine, session_factory
from docbox_cloud.migrate import migrate_async
from docbox_cloud.telemetry.client import InfluxClient
from docbox_cloud.telemetry.writer import TelemetryWriter
from tests.grafana.panels import PanelQuery, all_panels, dashboard_files, load, queries, render
from tests.grafana.simday import BOXES, SimulatedDay, Truth
from tests.support.fixtures import started
from tests.support.services import InfluxServer

pytestmark = pytest.mark.integration

DATABASE = "docbox"
INTERVAL = "10m"  # what Grafana picks for a day on a wide panel, roughly
ALLOWED_PANEL_TYPES = {
    "stat",
    "timeseries",
    "table",
    "barchart",
    "state-timeline",
    "bargauge",
    "gauge",
    "text",
}
DATASOURCE = {"type": "influxdb", "uid": "docbox-influxdb"}

Series = dict[str, Any]


@dataclass
class Day:
    server: InfluxServer
    truth: Truth
    until: datetime  # the end of the dashboards' time range: after the day was written

    def run(self, panel_query: PanelQuery, boxes: tuple[str, ...] = tuple(BOXES)) -> list[Series]:
        query = render(
            panel_query.query,
            start=self.truth.start,
            end=self.until,
            interval=INTERVAL,
            variables={"box": boxes},
        )
        result = self.server.query(query, DATABASE, epoch="ms")["results"][0]
        assert "error" not in result, f"{panel_query.key}: {result['error']}\n{query}"
        series: list[Series] = result.get("series", [])
        return series


@pytest.fixture(scope="module")
def day() -> Iterator[Day]:
    """InfluxDB with one simulated day (fills in ~2 s)."""
    server = started(InfluxServer)
    folder = Path(tempfile.mkdtemp(prefix="docbox-simday-"))

    async def fill() -> Truth:
        url = f"sqlite+aiosqlite:///{folder / 'cloud.db'}"
        await migrate_async(url)
        engine = create_engine(url)
        writer = TelemetryWriter(InfluxClient(server.url, DATABASE), batch_size=2_000)
        try:
            await writer.client.create_database()
            return await SimulatedDay(session_factory(engine), writer).play()
        finally:
            await writer.aclose()
            await engine.dispose()

    try:
        truth = asyncio.run(fill())
        yield Day(server, truth, datetime.now(UTC) + timedelta(seconds=1))
    finally:
        server.close(graceful=False)
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- helpers


def rows(series: Series) -> list[dict[str, Any]]:
    return [dict(zip(series["columns"], row, strict=True)) for row in series["values"]]


def by_tag(result: list[Series], tag: str, column: int = 1) -> dict[str, Any]:
    """The first row's value per series, keyed by one group-by tag."""
    return {s["tags"][tag]: s["values"][0][column] for s in result}


def last_value(series: Series, column: int = 1) -> Any:
    values = [row[column] for row in series["values"] if row[column] is not None]
    return values[-1]


def hourly(result: list[Series]) -> Counter[datetime]:
    """Non-zero buckets of a GROUP BY time(...) series, keyed by bucket start."""
    (series,) = result
    return Counter({datetime.fromtimestamp(row[0] / 1000, UTC): row[1] for row in series["values"] if row[1]})


def per_compartment(result: list[Series]) -> dict[tuple[str, int], dict[str, Any]]:
    """Table results grouped by box and compartment: one row each."""
    table: dict[tuple[str, int], dict[str, Any]] = {}
    for series in result:
        (row,) = rows(series)
        table[(series["tags"]["box"], int(series["tags"]["compartment"]))] = row
    return table


# --------------------------------------------------------------------------- what each panel shows

Check = Callable[[Day, list[Series]], None]
CHECKS: dict[tuple[str, str, str], Check] = {}


def check(dashboard: str, panel: str, ref_id: str = "A") -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[(dashboard, panel, ref_id)] = function
        return function

    return register


def _variable(day: Day, result: list[Series]) -> None:
    (series,) = result
    assert sorted(row[1] for row in series["values"]) == sorted(BOXES)


def _raised(day: Day, result: list[Series]) -> None:
    (series,) = result
    kinds = Counter(row["kind"] for row in rows(series))
    assert kinds == day.truth.raised
    assert all(row["text"].startswith("docbox Alarm: ") for row in rows(series))


def _cleared(day: Day, result: list[Series]) -> None:
    (series,) = result
    assert Counter(row["kind"] for row in rows(series)) == day.truth.cleared


for _file in ("overview.json", "pickups.json", "locks.json", "box-health.json"):
    CHECKS[(_file, "variable: box", "var")] = _variable
for _file in ("overview.json", "locks.json", "box-health.json", "pickups.json"):
    CHECKS[(_file, "annotation: Alarms raised", "Anno")] = _raised
    CHECKS[(_file, "annotation: Alarms cleared", "Anno")] = _cleared


@check("overview.json", "Doors open now")
def _doors_open_now(day: Day, result: list[Series]) -> None:
    assert by_tag(result, "box") == {box: len(day.truth.doors_open[box]) for box in BOXES}
    assert by_tag(result, "box")["box-a"] == 1  # compartment 9, left open


@check("overview.json", "Active alarms")
def _active_alarms(day: Day, result: list[Series]) -> None:
    (series,) = result
    assert series["values"][0][1] == len(day.truth.active_alarms) == 5


@check("overview.json", "Online")
def _online(day: Day, result: list[Series]) -> None:
    assert by_tag(result, "box") == {"box-a": 1, "box-b": 0}


@check("overview.json", "Compartments")
def _compartments(day: Day, result: list[Series]) -> None:
    table = per_compartment(result)
    assert len(table) == sum(BOXES.values())
    assert table[("box-a", 9)] == {**table[("box-a", 9)], "door": 1, "locked": 0, "alarms": "left_open"}
    assert table[("box-a", 3)]["alarms"] == "compartment_defective,jammed"
    assert table[("box-a", 5)] == {**table[("box-a", 5)], "door": 0, "locked": 1, "alarms": ""}
    others = [row for key, row in table.items() if key not in {("box-a", 9), ("box-a", 3)}]
    assert all(row["door"] == 0 and row["alarms"] == "" for row in others)


@check("overview.json", "Alarms now")
def _alarms_now(day: Day, result: list[Series]) -> None:
    active = {
        (
            s["tags"]["box"],
            int(s["tags"]["compartment"]) if s["tags"]["compartment"] else None,
            s["tags"]["kind"],
        )
        for s in result
        if rows(s)[0]["active"] == 1
    }
    assert active == day.truth.active_alarms
    assert all(isinstance(rows(s)[0]["number"], int) for s in result)


@check("overview.json", "Doors open over time")
def _doors_over_time(day: Day, result: list[Series]) -> None:
    series = {s["tags"]["box"]: s for s in result}
    assert last_value(series["box-a"]) == 1
    assert max(row[1] for row in series["box-a"]["values"] if row[1] is not None) == 1


@check("pickups.json", "Pickups")
def _pickups(day: Day, result: list[Series]) -> None:
    assert result[0]["values"][0][1] == sum(day.truth.pickups.values()) > 10


@check("pickups.json", "Loads")
def _loads(day: Day, result: list[Series]) -> None:
    assert result[0]["values"][0][1] == sum(day.truth.loads.values()) > 10


@check("pickups.json", "Occupied compartments")
def _occupied(day: Day, result: list[Series]) -> None:
    assert by_tag(result, "box") == day.truth.occupied


@check("pickups.json", "Pickups and loads per hour", "A")
def _pickups_hourly(day: Day, result: list[Series]) -> None:
    assert hourly(result) == day.truth.pickups


@check("pickups.json", "Pickups and loads per hour", "B")
def _loads_hourly(day: Day, result: list[Series]) -> None:
    assert hourly(result) == day.truth.loads


@check("pickups.json", "Pickups and loads per day", "A")
def _pickups_daily(day: Day, result: list[Series]) -> None:
    (series,) = result
    assert 1 <= len(series["values"]) <= 2  # the day spans one or two Berlin calendar days
    assert sum(row[1] for row in series["values"]) == sum(day.truth.pickups.values())


@check("pickups.json", "Pickups and loads per day", "B")
def _loads_daily(day: Day, result: list[Series]) -> None:
    (series,) = result
    assert sum(row[1] for row in series["values"]) == sum(day.truth.loads.values())


@check("pickups.json", "Occupancy")
def _occupancy(day: Day, result: list[Series]) -> None:
    assert {s["tags"]["box"]: last_value(s) for s in result} == day.truth.occupied


@check("pickups.json", "Door openings per hour")
def _openings(day: Day, result: list[Series]) -> None:
    assert hourly(result) == day.truth.openings


@check("locks.json", "Lock pulses per hour")
def _pulses_hourly(day: Day, result: list[Series]) -> None:
    assert hourly(result) == day.truth.pulses


@check("locks.json", "Unlock-to-open delay")
def _delay(day: Day, result: list[Series]) -> None:
    (series,) = result
    buckets = [row for row in rows(series) if row["mean"] is not None]
    assert max(row["max"] for row in buckets) == max(day.truth.delays)
    assert all(row["mean"] <= row["p95"] <= row["max"] for row in buckets)
    assert min(day.truth.delays) <= min(row["mean"] for row in buckets)
    assert sum(1 for _ in buckets) >= 20


@check("locks.json", "Jam rate per compartment")
def _jam_rate(day: Day, result: list[Series]) -> None:
    table = per_compartment(result)
    assert set(table) == set(day.truth.results)
    for key, row in table.items():
        results = day.truth.results[key]
        assert math.isclose(row["jam rate"], day.truth.jam_rate(*key)), key
        assert (row["jams"], row["unlocks"]) == (sum(results), len(results)), key
    assert math.isclose(table[("box-a", 3)]["jam rate"], 0.6)
    assert math.isclose(table[("box-a", 7)]["jam rate"], 0.5)


@check("locks.json", "Pulses per compartment")
def _pulses_per_compartment(day: Day, result: list[Series]) -> None:
    table = per_compartment(result)
    assert {key: row["pulses"] for key, row in table.items()} == dict(day.truth.pulses_by_compartment)
    assert all(row["mean pulse"] == 300 for row in table.values())


@check("locks.json", "Command outcomes per hour")
def _outcomes(day: Day, result: list[Series]) -> None:
    totals = {s["tags"]["outcome"]: sum(row[1] for row in s["values"]) for s in result}
    assert totals == dict(day.truth.outcomes)


@check("box-health.json", "Online")
def _online_timeline(day: Day, result: list[Series]) -> None:
    assert {s["tags"]["box"]: last_value(s) for s in result} == {"box-a": 1, "box-b": 0}


@check("box-health.json", "CPU temperature")
def _cpu(day: Day, result: list[Series]) -> None:
    for series in result:
        shown = sorted(row[1] for row in series["values"] if row[1] is not None)
        sent = sorted(
            s.cpu_temp_c for s in day.truth.samples[series["tags"]["box"]] if s.cpu_temp_c is not None
        )
        assert shown == pytest.approx(sent)


@check("box-health.json", "Free disk")
def _disk(day: Day, result: list[Series]) -> None:
    assert {s["tags"]["box"]: last_value(s) for s in result} == {
        box: samples[-1].disk_free_bytes for box, samples in day.truth.samples.items()
    }


@check("box-health.json", "Outbox depth")
def _outbox(day: Day, result: list[Series]) -> None:
    shown = {s["tags"]["box"]: max(row[1] for row in s["values"] if row[1] is not None) for s in result}
    assert shown == dict(day.truth.max_outbox)
    assert shown["box-b"] >= 1000


@check("box-health.json", "Lock board bus errors")
def _bus_errors(day: Day, result: list[Series]) -> None:
    shown = {s["tags"]["box"]: max(row[1] for row in s["values"] if row[1] is not None) for s in result}
    assert shown == dict(day.truth.max_bus_errors) == {"box-a": 3, "box-b": 0}


@check("box-health.json", "Uptime")
def _uptime(day: Day, result: list[Series]) -> None:
    assert by_tag(result, "box") == {box: samples[-1].uptime_s for box, samples in day.truth.samples.items()}


# --------------------------------------------------------------------------- the tests


def test_every_query_has_a_check() -> None:
    assert {q.key for q in queries()} == set(CHECKS)


@pytest.mark.parametrize("panel_query", queries(), ids=lambda q: f"{q.dashboard}:{q.panel}:{q.ref_id}")
def test_panel_query_returns_the_simulated_day(day: Day, panel_query: PanelQuery) -> None:
    result = day.run(panel_query)
    assert result, f"{panel_query.key} returned no data"
    CHECKS[panel_query.key](day, result)


def test_the_box_variable_filters_every_panel(day: Day) -> None:
    for panel_query in queries():
        if panel_query.panel.startswith("variable:"):
            continue
        for series in day.run(panel_query, boxes=("box-b",)):
            assert series.get("tags", {}).get("box", "box-b") == "box-b", panel_query.key
    only_a = [q for q in queries() if q.key == ("pickups.json", "Pickups", "A")]
    assert day.run(only_a[0], boxes=("box-a",))[0]["values"][0][1] == day.truth.pickups_by_box["box-a"]


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_dashboard_json_is_provisionable(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["uid"].startswith("docbox-")
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["editable"] is False  # change the repository, not the UI
    panels = list(all_panels(dashboard))
    assert panels
    assert len({p["id"] for p in panels}) == len(panels)
    assert len({p["title"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["type"] in ALLOWED_PANEL_TYPES, (
            f"{panel['title']}: Angular-era or unknown type {panel['type']}"
        )
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24
        assert panel["datasource"] == DATASOURCE
        assert panel["description"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE
            assert target["rawQuery"] is True
            assert "$timeFilter" in target["query"], panel["title"]
            assert '"box" =~ /^$box$/' in target["query"], panel["title"]


def test_dashboard_uids_are_unique() -> None:
    uids = [load(path)["uid"] for path in dashboard_files()]
    assert len(uids) == len(set(uids)) == 4
