"""The telemetry schema: which points each message becomes; tags stay low-cardinality."""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from docbox_cloud.telemetry import points
from docbox_cloud.telemetry.lineprotocol import Point
from docbox_cloud.telemetry.observer import TelemetryObserver
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    BoxState,
    BoxStatus,
    CommandOutcome,
    CommandResult,
    CompartmentState,
    DoorClosed,
    DoorOpened,
    DoorPosition,
    LockPulsed,
    RejectReason,
    StateSnapshot,
    Telemetry,
)
from tests.cloud.factories import make_event

T = datetime(2026, 3, 1, 12, tzinfo=UTC)
COMMAND = uuid.uuid4()
DOCS = Path(__file__).resolve().parents[3] / "docs" / "telemetry.md"


def shape(point: Point) -> tuple[str, dict[str, str], dict[str, object]]:
    return point.measurement, dict(point.tags), dict(point.fields)


def test_door_opened_on_command_with_delay() -> None:
    event = make_event(5, DoorOpened(compartment=12, command_id=COMMAND))

    door, state, delay = (shape(p) for p in points.event_points(event, unlock_delay_s=1.25))

    assert door == (
        "door",
        {"box": "box-1", "compartment": "12", "event": "opened"},
        {"open": 1, "forced": False},
    )
    assert state == (
        "compartment_state",
        {"box": "box-1", "compartment": "12"},
        {"door_open": 1, "locked": 0},
    )
    assert delay == ("lock", {"box": "box-1", "compartment": "12", "event": "delay"}, {"delay_s": 1.25})


def test_door_closed_lock_pulsed_and_command_results() -> None:
    closed = points.event_points(make_event(1, DoorClosed(compartment=2, open_ms=1500)))
    assert shape(closed[0])[2] == {"open": 0, "open_s": 1.5}
    assert shape(closed[1])[2] == {"door_open": 0, "locked": 1}

    pulse = points.event_points(make_event(2, LockPulsed(compartment=2, command_id=COMMAND, pulse_ms=300)))
    assert shape(pulse[0]) == (
        "lock",
        {"box": "box-1", "compartment": "2", "event": "pulse"},
        {"pulses": 1, "pulse_ms": 300},
    )

    jammed = points.event_points(
        make_event(3, CommandResult(command_id=COMMAND, compartment=2, outcome=CommandOutcome.JAMMED))
    )
    assert shape(jammed[0]) == (
        "command",
        {"box": "box-1", "outcome": "jammed"},
        {"count": 1, "compartment": 2},
    )
    assert shape(jammed[1])[2] == {"opened": 0, "jammed": 1}

    rejected = points.event_points(
        make_event(
            4,
            CommandResult(command_id=COMMAND, outcome=CommandOutcome.REJECTED, reason=RejectReason.EXPIRED),
        )
    )
    assert [shape(p) for p in rejected] == [
        ("command", {"box": "box-1", "outcome": "rejected", "reason": "expired"}, {"count": 1})
    ]


def test_alarm_events_are_left_to_the_alarm_service() -> None:
    event = make_event(1, AlarmRaised(compartment=1, alarm=AlarmKind.JAMMED, active=True))
    assert points.event_points(event) == []


def test_snapshot_status_and_telemetry() -> None:
    snapshot = StateSnapshot(
        box_id="b",
        session=1,
        as_of_seq=0,
        at=T,
        reason="birth",
        compartments=[
            CompartmentState(number=1, door=DoorPosition.UNKNOWN, locked=True, alarms=[AlarmKind.FLAPPING]),
            CompartmentState(number=2, door=DoorPosition.OPEN, locked=False),
        ],
    )
    assert [shape(p)[2] for p in points.snapshot_points(snapshot)] == [
        {"door_open": -1, "locked": 1, "alarms": "flapping", "alarm_count": 1},
        {"door_open": 1, "locked": 0, "alarms": "", "alarm_count": 0},
    ]

    status = BoxStatus(box_id="b", state=BoxState.OFFLINE, session=3, at=T)
    assert shape(points.status_points(status, T)[0]) == ("box_state", {"box": "b"}, {"online": 0})

    sample = Telemetry(box_id="b", at=T, uptime_s=10, outbox_depth=3, cpu_temp_c=51.5, disk_free_bytes=10**9)
    assert shape(points.telemetry_points(sample)[0]) == (
        "box_health",
        {"box": "b"},
        {
            "uptime_s": 10.0,
            "outbox_depth": 3,
            "bus_errors": 0,
            "doors_open": 0,
            "cpu_temp_c": 51.5,
            "disk_free_bytes": 10**9,
        },
    )
    bare = Telemetry(box_id="b", at=T, uptime_s=1, outbox_depth=0)
    assert "cpu_temp_c" not in points.telemetry_points(bare)[0].fields


def test_domain_points_for_the_pickup_workflow() -> None:
    assert shape(points.pickup("b", 4, T, waited_s=3600.0)) == (
        "pickup",
        {"box": "b"},
        {"count": 1, "compartment": 4, "waited_s": 3600.0},
    )
    assert shape(points.load("b", 4, T))[2] == {"count": 1, "compartment": 4}
    assert shape(points.occupancy("b", T, occupied=3, total=10))[2] == {"occupied": 3, "free": 7, "total": 10}
    with pytest.raises(ValueError, match=r"within 0\.\.total"):
        points.occupancy("b", T, occupied=11, total=10)


def test_alarm_points_leave_out_the_compartment_of_box_alarms() -> None:
    point = points.alarm("b", "box_offline", T, active=True, text="offline", alarm_id=7)
    assert point.to_line().startswith("alarm,box=b,kind=box_offline active=1i")


def test_docs_list_every_measurement() -> None:
    documented = set(re.findall(r"^### `(\w+)`", DOCS.read_text(), flags=re.MULTILINE))
    assert documented == set(points.MEASUREMENTS)


async def test_the_observer_skips_unwritable_samples_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    written: list[Point] = []

    class Writer:
        def write(self, new: list[Point]) -> None:
            written.extend(new)

    observer = TelemetryObserver(Writer())  # type: ignore[arg-type]
    await observer.telemetry_received(
        Telemetry(box_id="b", at=T, uptime_s=1, outbox_depth=0, cpu_temp_c=math.nan)
    )
    await observer.telemetry_received(Telemetry(box_id="b", at=T, uptime_s=2, outbox_depth=0))

    assert [p.fields["uptime_s"] for p in written] == [2.0]
    assert "not a finite number" in caplog.text
