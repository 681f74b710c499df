"""InfluxDB line protocol: one :class:`Point` per line, escaped as InfluxDB 1.x–3.x parse it.

``measurement,tag=value,... field=value,... timestamp`` with the timestamp in nanoseconds.
Tags are sorted by key (what InfluxDB recommends for write speed); integer fields carry the
``i`` suffix; strings are quoted. Invalid points (no fields, empty names, NaN) are refused
when the point is built, so that a bad sample never poisons a whole batch at write time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: What a field may hold. ``bool`` is checked before ``int`` (it is a subclass).
FieldValue = bool | int | float | str

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": " ", "\r": " "})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Longest string field written; longer values are cut (InfluxDB allows 64 KiB).
MAX_STRING_FIELD = 1024


class PointError(ValueError):
    """A point that cannot be written (empty name, no fields, a NaN, a naive timestamp)."""


@dataclass(frozen=True, slots=True)
class Point:
    """One sample: measurement, tags, fields and an aware timestamp.

    Tags with an empty value are left out (InfluxDB refuses empty tag values); a point
    needs at least one field.

    Raises:
        PointError: on construction, if the point could not be written.
    """

    measurement: str
    fields: Mapping[str, FieldValue]
    time: datetime
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.measurement or _has_control(self.measurement):
            raise PointError(f"invalid measurement name {self.measurement!r}")
        if self.time.tzinfo is None:
            raise PointError(f"{self.measurement}: naive timestamp, need an aware datetime")
        if not self.fields:
            raise PointError(f"{self.measurement}: a point needs at least one field")
        for key, tag in self.tags.items():
            if not key or _has_control(key) or _has_control(tag) or tag.endswith("\\"):
                raise PointError(f"{self.measurement}: invalid tag {key!r}")
        for key, value in self.fields.items():
            if not key or _has_control(key):
                raise PointError(f"{self.measurement}: invalid field name {key!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise PointError(f"{self.measurement}: field {key!r} is {value!r}, not a finite number")
            if not isinstance(value, bool | int | float | str):
                raise PointError(f"{self.measurement}: field {key!r} has type {type(value).__name__}")

    @property
    def timestamp_ns(self) -> int:
        """The timestamp in nanoseconds since the epoch (exact: no float rounding)."""
        # Timedelta parts are integers: no float rounding of the microseconds.
        delta = self.time - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000

    def to_line(self) -> str:
        """This point as one line of line protocol (without the newline)."""
        head = self.measurement.translate(_MEASUREMENT_ESCAPES)
        tags = "".join(
            f",{key.translate(_KEY_ESCAPES)}={value.translate(_KEY_ESCAPES)}"
            for key, value in sorted(self.tags.items())
            if value
        )
        fields = ",".join(
            f"{key.translate(_KEY_ESCAPES)}={_field_value(value)}" for key, value in self.fields.items()
        )
        return f"{head}{tags} {fields} {self.timestamp_ns}"


def encode(points: list[Point]) -> bytes:
    """Encode points as a line-protocol body (UTF-8, one point per line)."""
    return "\n".join(point.to_line() for point in points).encode()


def _field_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value[:MAX_STRING_FIELD].translate(_STRING_ESCAPES) + '"'


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ch == "\x7f" for ch in text)
