"""Message models: one pydantic model per MQTT topic (see :mod:`docbox_protocol.topics`).

Every message carries the schema version ``v``. Within one major version, receivers ignore
fields they do not know (so a newer sender may add optional fields); a different ``v`` is
rejected with a precise reason by :func:`docbox_protocol.codec.decode`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from docbox_protocol.ids import BoxId, CompartmentNo, Seq, Session

SCHEMA_VERSION: Literal[1] = 1


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class Message(BaseModel):
    """Base of every docbox message: frozen, versioned, tolerant of unknown fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[1] = Field(default=SCHEMA_VERSION, description="Schema version of this message")


# --------------------------------------------------------------------------- status


class BoxState(StrEnum):
    """Connection state of a box as published on its retained status topic."""

    ONLINE = "online"
    OFFLINE = "offline"


class BoxStatus(Message):
    """Retained status of a box: the birth message says online, the last will says offline."""

    box_id: BoxId
    state: BoxState
    session: Session
    at: AwareDatetime = Field(description="When the message was composed (for the will: at connect)")
    compartments: int | None = Field(default=None, ge=0, description="Compartment count (birth only)")
    agent_version: str | None = Field(default=None, max_length=64)


# --------------------------------------------------------------------------- events


class DoorPosition(StrEnum):
    """Debounced position of a door as reported by its sensor."""

    OPEN = "open"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class CommandOutcome(StrEnum):
    """How the edge finished a command (the reply and the command_result event carry it)."""

    OPENED = "opened"
    JAMMED = "jammed"
    DONE = "done"
    REJECTED = "rejected"


class RejectReason(StrEnum):
    """Why the edge refused a command; nothing was energised in any of these cases."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    WRONG_BOX = "wrong_box"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    LIFETIME_TOO_LONG = "lifetime_too_long"
    REPLAYED = "replayed"
    UNKNOWN_COMPARTMENT = "unknown_compartment"
    DOOR_ALREADY_OPEN = "door_already_open"
    UNSUPPORTED_VERSION = "unsupported_version"
    HARDWARE_ERROR = "hardware_error"


class AlarmKind(StrEnum):
    """Conditions the edge detects at a compartment."""

    FORCED_OPEN = "forced_open"
    LEFT_OPEN = "left_open"
    JAMMED = "jammed"
    FLAPPING = "flapping"


class DoorOpened(BaseModel):
    """A door was seen open (debounced)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: Literal["door_opened"] = "door_opened"
    compartment: CompartmentNo
    command_id: uuid.UUID | None = Field(
        default=None, description="The unlock command that released the latch; null if forced"
    )
    forced: bool = Field(default=False, description="Opened without a preceding unlock")


class DoorClosed(BaseModel):
    """A door was seen shut (debounced)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: Literal["door_closed"] = "door_closed"
    compartment: CompartmentNo
    open_ms: int | None = Field(default=None, ge=0, description="How long it stood open")


class LockPulsed(BaseModel):
    """A lock coil was energised for ``pulse_ms`` on behalf of a verified command."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: Literal["lock_pulsed"] = "lock_pulsed"
    compartment: CompartmentNo
    command_id: uuid.UUID
    pulse_ms: int = Field(ge=0)


class CommandResult(BaseModel):
    """The durable record of how a command ended (the reply topic is the fast path)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: Literal["command_result"] = "command_result"
    command_id: uuid.UUID
    compartment: CompartmentNo | None = None
    outcome: CommandOutcome
    reason: RejectReason | None = None
    detail: str | None = Field(default=None, max_length=200)


class AlarmRaised(BaseModel):
    """An alarm started (``active``) or ended (not ``active``) at one compartment."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: Literal["alarm"] = "alarm"
    compartment: CompartmentNo
    alarm: AlarmKind
    active: bool
    detail: str | None = Field(default=None, max_length=200)


EventData = Annotated[
    DoorOpened | DoorClosed | LockPulsed | CommandResult | AlarmRaised,
    Field(discriminator="kind"),
]


class Event(Message):
    """One event of a box, published from the edge's durable outbox (QoS 1).

    ``id`` is unique per event and makes storage idempotent; ``seq`` counts every event the
    box ever emitted (persisted in the outbox, so it survives restarts) and lets the cloud
    detect gaps; ``session`` is the connection session during which it was *recorded*.
    """

    id: uuid.UUID
    box_id: BoxId
    session: Session
    seq: Seq
    at: AwareDatetime = Field(description="When it happened at the box")
    data: EventData


# --------------------------------------------------------------------------- state


class CompartmentState(BaseModel):
    """The edge's view of one compartment."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    number: CompartmentNo
    door: DoorPosition
    locked: bool = Field(description="False while the latch is released after an unlock")
    alarms: list[AlarmKind] = Field(default_factory=list)
    size: Literal["S", "M", "L"] | None = Field(default=None, description="Physical size class")
    height_cm: int | None = Field(default=None, ge=0, le=300, description="Floor to door bottom")


class StateSnapshot(Message):
    """Retained snapshot of every compartment, published at birth and on request."""

    box_id: BoxId
    session: Session
    as_of_seq: int = Field(ge=0, description="Sequence number of the last event before this snapshot")
    at: AwareDatetime
    reason: Literal["birth", "requested", "periodic"]
    request_id: uuid.UUID | None = Field(default=None, description="The snapshot command answered")
    compartments: list[CompartmentState]


# --------------------------------------------------------------------------- telemetry


class Telemetry(Message):
    """Periodic health figures of a box (QoS 0: a lost sample is replaced by the next)."""

    box_id: BoxId
    at: AwareDatetime
    uptime_s: float = Field(ge=0)
    outbox_depth: int = Field(ge=0, description="Events not yet acknowledged by the broker")
    cpu_temp_c: float | None = None
    disk_free_bytes: int | None = Field(default=None, ge=0)
    bus_errors: int = Field(default=0, ge=0, description="Lock board bus errors since start")
    doors_open: int = Field(default=0, ge=0)


# --------------------------------------------------------------------------- commands


class UnlockAction(BaseModel):
    """Energise one compartment's lock coil for its configured pulse."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    action: Literal["unlock"] = "unlock"
    compartment: CompartmentNo


class SnapshotAction(BaseModel):
    """Publish a fresh state snapshot (the cloud's 'rebirth' request after a sequence gap)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    action: Literal["snapshot"] = "snapshot"


CommandAction = Annotated[UnlockAction | SnapshotAction, Field(discriminator="action")]

#: Longest validity a command may have; the edge rejects longer-lived ones.
MAX_COMMAND_LIFETIME_S = 30.0


class Command(BaseModel):
    """The signed content of a command: names one box, carries a unique id and a short expiry."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    v: Literal[1] = SCHEMA_VERSION
    id: uuid.UUID
    box_id: BoxId
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    body: CommandAction

    @model_validator(mode="after")
    def _expiry_after_issue(self) -> Command:
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        return self


class SignedCommand(Message):
    """What travels on a box's command topic: the exact signed bytes plus an Ed25519 signature.

    ``payload`` is the base64url (unpadded) encoding of the UTF-8 JSON of a :class:`Command`;
    the signature covers exactly those bytes, so no canonical JSON form is needed.
    """

    key_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="Which cloud key signed it")
    payload: str = Field(max_length=4096, pattern=r"^[A-Za-z0-9_-]+$")
    signature: str = Field(max_length=128, pattern=r"^[A-Za-z0-9_-]+$")


class CommandReply(Message):
    """The edge's answer to a command, on the box's reply topic (QoS 1, not retained)."""

    command_id: uuid.UUID | None = Field(description="Null when the command could not be parsed")
    box_id: BoxId
    at: AwareDatetime
    outcome: CommandOutcome
    reason: RejectReason | None = None
    detail: str | None = Field(default=None, max_length=200)
