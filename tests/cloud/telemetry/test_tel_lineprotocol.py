"""Line protocol: escaping, types, timestamps, refusal of unwritable points; round trip."""

from __future__ import annotations

import math
import urllib.request
from datetime import UTC, datetime, timedelta, timezone

import pytest

from docbox_cloud.telemetry.lineprotocol import Point, PointError, encode
from tests.support.services import InfluxServer

T = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
T_NS = 1772366400123456000


def test_point_encodes_types_tags_and_timestamp() -> None:
    point = Point(
        "door",
        {"open": 1, "forced": True, "open_s": 2.5, "note": "ok"},
        T,
        {"compartment": "12", "box": "box-1", "empty": ""},
    )

    assert point.to_line() == f'door,box=box-1,compartment=12 open=1i,forced=true,open_s=2.5,note="ok" {T_NS}'


def test_timestamps_are_exact_nanoseconds_in_any_zone() -> None:
    berlin = T.astimezone(timezone(timedelta(hours=1)))
    assert Point("m", {"v": 1}, berlin).timestamp_ns == T_NS
    far = datetime(2262, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)
    assert Point("m", {"v": 1}, far).timestamp_ns % 1_000_000_000 == 999_999_000


def test_special_characters_are_escaped() -> None:
    point = Point(
        "my measure,x",
        {"field key": 'say "hi" \\ there\nnext', "a=b": False},
        T,
        {"tag,key": "va lue=1"},
    )

    assert point.to_line() == (
        r"my\ measure\,x,tag\,key=va\ lue\=1 "
        r'field\ key="say \"hi\" \\ there next",a\=b=false '
        f"{T_NS}"
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"measurement": "", "fields": {"v": 1}, "time": T}, "measurement"),
        ({"measurement": "m", "fields": {}, "time": T}, "at least one field"),
        ({"measurement": "m", "fields": {"v": math.nan}, "time": T}, "finite"),
        ({"measurement": "m", "fields": {"v": math.inf}, "time": T}, "finite"),
        ({"measurement": "m", "fields": {"v": 1}, "time": T.replace(tzinfo=None)}, "naive"),
        ({"measurement": "m", "fields": {"v": 1}, "time": T, "tags": {"t": "a\nb"}}, "invalid tag"),
        ({"measurement": "m", "fields": {"v": 1}, "time": T, "tags": {"t": "end\\"}}, "invalid tag"),
        ({"measurement": "m", "fields": {"v": [1]}, "time": T}, "type list"),
    ],
)
def test_unwritable_points_are_refused_at_construction(kwargs: dict[str, object], reason: str) -> None:
    with pytest.raises(PointError, match=reason):
        Point(**kwargs)  # type: ignore[arg-type]


def test_long_strings_are_cut() -> None:
    line = Point("m", {"text": "x" * 5000}, T).to_line()
    assert len(line) < 1100


@pytest.mark.integration
def test_round_trip_through_a_real_influxdb(influxdb: InfluxServer) -> None:
    influxdb.create_database("rt")
    points = [
        Point("odd name", {"s": 'q"uo\\te', "i": -7, "f": 0.1, "b": True}, T, {"tag key": "v,1"}),
        Point("odd name", {"i": 8}, T + timedelta(seconds=1), {"tag key": "v,1"}),
    ]
    request = urllib.request.Request(
        f"{influxdb.url}/write?db=rt&precision=ns", data=encode(points), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 204

    result = influxdb.query('SELECT * FROM "odd name"', "rt", epoch="ns")
    series = result["results"][0]["series"][0]
    rows = [dict(zip(series["columns"], row, strict=True)) for row in series["values"]]
    assert rows[0] == {"time": T_NS, "s": 'q"uo\\te', "i": -7, "f": 0.1, "b": True, "tag key": "v,1"}
    assert rows[1]["i"] == 8
