"""Encoding and decoding messages, and the precision of decode errors."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from docbox_protocol import MessageError, decode, encode
from docbox_protocol.codec import MAX_PAYLOAD_BYTES
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    BoxState,
    BoxStatus,
    DoorClosed,
    DoorOpened,
    Event,
    LockPulsed,
)

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _event(data: DoorOpened | DoorClosed | LockPulsed | AlarmRaised, seq: int = 1) -> Event:
    return Event(id=uuid.uuid4(), box_id="box-1", session=3, seq=seq, at=AT, data=data)


@pytest.mark.parametrize(
    "data",
    [
        DoorOpened(compartment=4, command_id=uuid.uuid4()),
        DoorOpened(compartment=4, forced=True),
        DoorClosed(compartment=4, open_ms=1200),
        LockPulsed(compartment=9, command_id=uuid.uuid4(), pulse_ms=300),
        AlarmRaised(compartment=2, alarm=AlarmKind.LEFT_OPEN, active=True),
    ],
)
def test_event_round_trip(data: DoorOpened | DoorClosed | LockPulsed | AlarmRaised) -> None:
    event = _event(data)
    decoded = decode(Event, encode(event))
    assert decoded == event
    assert decoded.data.kind == data.kind


def test_every_message_carries_the_schema_version() -> None:
    status = BoxStatus(box_id="box-1", state=BoxState.ONLINE, session=1, at=AT)
    assert json.loads(encode(status))["v"] == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'{"v": 2}', "unsupported schema version 2"),
        (b'{"box_id": "box-1"}', "unsupported schema version None"),
    ],
)
def test_decode_errors_name_the_problem(payload: bytes, reason: str) -> None:
    with pytest.raises(MessageError, match=reason):
        decode(Event, payload)


def test_decode_error_names_the_field_but_not_the_value() -> None:
    raw = json.loads(encode(_event(DoorClosed(compartment=1))))
    raw["data"]["compartment"] = "secret-value-0"
    with pytest.raises(MessageError) as info:
        decode(Event, json.dumps(raw))
    assert "data.door_closed.compartment" in str(info.value)
    assert "secret-value-0" not in str(info.value)


def test_unknown_event_kind_is_rejected() -> None:
    raw = json.loads(encode(_event(DoorClosed(compartment=1))))
    raw["data"]["kind"] = "door_exploded"
    with pytest.raises(MessageError, match="data"):
        decode(Event, json.dumps(raw))


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    raw = json.loads(encode(_event(DoorClosed(compartment=1))))
    raw["added_in_a_later_minor"] = True
    assert decode(Event, json.dumps(raw)).seq == 1


def test_oversized_payload_is_refused_before_parsing() -> None:
    with pytest.raises(MessageError, match="exceeds"):
        decode(Event, b" " * (MAX_PAYLOAD_BYTES + 1))


def test_naive_timestamps_are_rejected() -> None:
    raw = json.loads(encode(_event(DoorClosed(compartment=1))))
    raw["at"] = "2026-11-25T10:00:00"
    with pytest.raises(MessageError, match="at"):
        decode(Event, json.dumps(raw))
