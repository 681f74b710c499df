"""The telemetry schema: which points docbox writes, built from protocol messages.

docs/telemetry.md lists every measurement with its tags and fields; this module is the
only place that builds them. Tags stay low-cardinality: box id, compartment number and
small enumerations (event, kind, outcome). Ids of events and commands, people's data and
free text never become tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from docbox_cloud.telemetry.lineprotocol import FieldValue, Point
from docbox_protocol.messages import (
    BoxState,
    BoxStatus,
    CommandOutcome,
    CommandResult,
    DoorClosed,
    DoorOpened,
    DoorPosition,
    Event,
    LockPulsed,
    StateSnapshot,
    Telemetry,
)

DOOR = "door"
LOCK = "lock"
COMMAND = "command"
COMPARTMENT_STATE = "compartment_state"
BOX_STATE = "box_state"
BOX_HEALTH = "box_health"
ALARM = "alarm"
PICKUP = "pickup"
LOAD = "load"
OCCUPANCY = "occupancy"

#: Every measurement docbox writes.
MEASUREMENTS = (DOOR, LOCK, COMMAND, COMPARTMENT_STATE, BOX_STATE, BOX_HEALTH, ALARM, PICKUP, LOAD, OCCUPANCY)

#: ``door_open`` values of ``compartment_state``.
DOOR_OPEN_VALUES = {DoorPosition.OPEN: 1, DoorPosition.CLOSED: 0, DoorPosition.UNKNOWN: -1}


def _compartment_tags(box_id: str, compartment: int) -> dict[str, str]:
    return {"box": box_id, "compartment": str(compartment)}


def event_points(event: Event, *, unlock_delay_s: float | None = None) -> list[Point]:
    """The points of one stored event.

    Args:
        event: The event.
        unlock_delay_s: For a ``door_opened`` after an unlock: seconds from the lock pulse
            to the door opening, when the pulse is known.
    """
    data = event.data
    at = event.at
    box = event.box_id
    if isinstance(data, DoorOpened):
        points = [
            Point(
                DOOR,
                {"open": 1, "forced": data.forced},
                at,
                {**_compartment_tags(box, data.compartment), "event": "opened"},
            ),
            compartment_state(box, data.compartment, at, door=DoorPosition.OPEN, locked=False),
        ]
        if unlock_delay_s is not None:
            points.append(
                Point(
                    LOCK,
                    {"delay_s": max(0.0, unlock_delay_s)},
                    at,
                    {**_compartment_tags(box, data.compartment), "event": "delay"},
                )
            )
        return points
    if isinstance(data, DoorClosed):
        fields: dict[str, FieldValue] = {"open": 0}
        if data.open_ms is not None:
            fields["open_s"] = data.open_ms / 1000
        return [
            Point(DOOR, fields, at, {**_compartment_tags(box, data.compartment), "event": "closed"}),
            compartment_state(box, data.compartment, at, door=DoorPosition.CLOSED, locked=True),
        ]
    if isinstance(data, LockPulsed):
        return [
            Point(
                LOCK,
                {"pulses": 1, "pulse_ms": data.pulse_ms},
                at,
                {**_compartment_tags(box, data.compartment), "event": "pulse"},
            ),
            compartment_state(box, data.compartment, at, locked=False),
        ]
    if isinstance(data, CommandResult):
        return _command_points(box, at, data)
    # Alarms are written by the alarm service, which knows the cloud's view of them.
    return []


def _command_points(box: str, at: datetime, data: CommandResult) -> list[Point]:
    tags = {"box": box, "outcome": data.outcome.value}
    if data.reason is not None:
        tags["reason"] = data.reason.value
    fields: dict[str, FieldValue] = {"count": 1}
    if data.compartment is not None:
        fields["compartment"] = data.compartment
    points = [Point(COMMAND, fields, at, tags)]
    if data.compartment is not None and data.outcome in (CommandOutcome.OPENED, CommandOutcome.JAMMED):
        jammed = data.outcome is CommandOutcome.JAMMED
        points.append(
            Point(
                LOCK,
                {"opened": int(not jammed), "jammed": int(jammed)},
                at,
                {**_compartment_tags(box, data.compartment), "event": "result"},
            )
        )
    return points


def compartment_state(
    box_id: str,
    compartment: int,
    at: datetime,
    *,
    door: DoorPosition | None = None,
    locked: bool | None = None,
    alarms: Iterable[str] | None = None,
) -> Point:
    """A ``compartment_state`` point with the fields that are known (at least one).

    ``last()`` per field then gives the current state even though different sources
    (events, alarms, snapshots) each write only what they know.
    """
    fields: dict[str, FieldValue] = {}
    if door is not None:
        fields["door_open"] = DOOR_OPEN_VALUES[door]
    if locked is not None:
        fields["locked"] = int(locked)
    if alarms is not None:
        active = sorted(set(alarms))
        fields["alarms"] = ",".join(active)
        fields["alarm_count"] = len(active)
    return Point(COMPARTMENT_STATE, fields, at, _compartment_tags(box_id, compartment))


def snapshot_points(snapshot: StateSnapshot) -> list[Point]:
    """One full ``compartment_state`` point per compartment of a state snapshot."""
    return [
        compartment_state(
            snapshot.box_id,
            state.number,
            snapshot.at,
            door=state.door,
            locked=state.locked,
            alarms=(alarm.value for alarm in state.alarms),
        )
        for state in snapshot.compartments
    ]


def box_state(
    box_id: str, at: datetime, *, online: bool | None = None, active_alarms: int | None = None
) -> Point:
    """A ``box_state`` point: connection state and/or the number of active alarms."""
    fields: dict[str, FieldValue] = {}
    if online is not None:
        fields["online"] = int(online)
    if active_alarms is not None:
        fields["active_alarms"] = active_alarms
    return Point(BOX_STATE, fields, at, {"box": box_id})


def status_points(status: BoxStatus, at: datetime) -> list[Point]:
    """The ``box_state`` point of a birth or will, at ``at`` (when the cloud learnt of it)."""
    return [box_state(status.box_id, at, online=status.state is BoxState.ONLINE)]


def telemetry_points(telemetry: Telemetry) -> list[Point]:
    """The ``box_health`` point of a telemetry sample."""
    fields: dict[str, FieldValue] = {
        "uptime_s": telemetry.uptime_s,
        "outbox_depth": telemetry.outbox_depth,
        "bus_errors": telemetry.bus_errors,
        "doors_open": telemetry.doors_open,
    }
    if telemetry.cpu_temp_c is not None:
        fields["cpu_temp_c"] = telemetry.cpu_temp_c
    if telemetry.disk_free_bytes is not None:
        fields["disk_free_bytes"] = telemetry.disk_free_bytes
    return [Point(BOX_HEALTH, fields, telemetry.at, {"box": telemetry.box_id})]


def alarm(
    box_id: str,
    kind: str,
    at: datetime,
    *,
    active: bool,
    text: str,
    compartment: int | None = None,
    alarm_id: int | None = None,
) -> Point:
    """An ``alarm`` point: an alarm raised (``active=1``) or cleared; Grafana's annotations."""
    tags = {"box": box_id, "kind": kind}
    if compartment is not None:
        tags["compartment"] = str(compartment)
    fields: dict[str, FieldValue] = {"active": int(active), "text": text}
    if alarm_id is not None:
        fields["alarm_id"] = alarm_id
    return Point(ALARM, fields, at, tags)


def pickup(box_id: str, compartment: int, at: datetime, *, waited_s: float | None = None) -> Point:
    """A ``pickup`` point: an applicant collected a document.

    Args:
        box_id: The box.
        compartment: The compartment it was in.
        at: When the door was shut after the pickup.
        waited_s: How long the document waited in the box, if known.
    """
    fields: dict[str, FieldValue] = {"count": 1, "compartment": compartment}
    if waited_s is not None:
        fields["waited_s"] = waited_s
    return Point(PICKUP, fields, at, {"box": box_id})


def load(box_id: str, compartment: int, at: datetime) -> Point:
    """A ``load`` point: staff put a document into a compartment."""
    return Point(LOAD, {"count": 1, "compartment": compartment}, at, {"box": box_id})


def occupancy(box_id: str, at: datetime, *, occupied: int, total: int) -> Point:
    """An ``occupancy`` point: how many compartments hold a document."""
    if not 0 <= occupied <= total:
        raise ValueError(f"occupied must be within 0..total, got {occupied} of {total}")
    return Point(
        OCCUPANCY, {"occupied": occupied, "free": total - occupied, "total": total}, at, {"box": box_id}
    )
