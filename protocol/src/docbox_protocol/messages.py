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
    grant_id: uuid.UUID | None = Field(
        default=None, description="The pickup grant whose sign-in released the latch"
    )
    forced: bool = Field(default=False, description="Opened without a preceding unlock")


class DoorClosed(BaseModel):
    """A door was seen shut (debounced)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: Literal["door_closed"] = "door_closed"
    compartment: CompartmentNo
    open_ms: int | None = Field(default=None, ge=0, description="How long it stood open")


class LockPulsed(BaseModel):
    """A lock coil was energised for ``pulse_ms`` for a verified command or a pickup sign-in."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: Literal["lock_pulsed"] = "lock_pulsed"
    compartment: CompartmentNo
    command_id: uuid.UUID | None = None
    grant_id: uuid.UUID | None = None
    pulse_ms: int = Field(ge=0)

    @model_validator(mode="after")
    def _one_cause(self) -> LockPulsed:
        if (self.command_id is None) == (self.grant_id is None):
            raise ValueError("exactly one of command_id and grant_id is required")
        return self


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


class PickupCompleted(BaseModel):
    """An applicant signed in with a grant, the door opened and was shut again: handed over."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: Literal["pickup_completed"] = "pickup_completed"
    compartment: CompartmentNo
    grant_id: uuid.UUID
    offline: bool = Field(description="The box had no broker connection when the pickup happened")


class SignInFailReason(StrEnum):
    """Why a kiosk sign-in was refused (no personal data is ever reported)."""

    UNKNOWN_LOGIN = "unknown_login"
    WRONG_SECRET = "wrong_secret"  # noqa: S105 - a reason code, not a password
    LOCKED_OUT = "locked_out"
    NOT_VALID_NOW = "not_valid_now"


class SignInFailed(BaseModel):
    """A kiosk sign-in failed; ``grant_id`` is set when the login matched a grant."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: Literal["signin_failed"] = "signin_failed"
    grant_id: uuid.UUID | None = None
    reason: SignInFailReason


EventData = Annotated[
    DoorOpened | DoorClosed | LockPulsed | CommandResult | AlarmRaised | PickupCompleted | SignInFailed,
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
    request_id: uuid.UUID | None = Field(
        default=None, description="The kiosk request (e.g. staff loading) this unlock answers"
    )


class PickupGrant(BaseModel):
    """Permission for one applicant to open one compartment at the kiosk, online or offline.

    The box never learns the applicant's login, PIN or date of birth: ``login_hash`` is
    ``sha256(lookup_salt || normalised login)`` (hex; the login is a phone number in E.164 or a
    case number) and ``secret_hash`` is ``scrypt(pin || "|" || date_of_birth_iso, secret_salt,
    n=2**14, r=8, p=1, dklen=32)`` (base64url). See docs/protocol.md.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    grant_id: uuid.UUID
    compartment: CompartmentNo
    login_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    secret_salt: str = Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")
    secret_hash: str = Field(pattern=r"^[A-Za-z0-9_-]{43}$")
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    language: str = Field(default="de", pattern=r"^[a-z]{2}$", description="Kiosk language to start in")


class GrantsAction(BaseModel):
    """Install pickup grants at the box; with ``replace_all`` the list is the box's full set."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    action: Literal["grants"] = "grants"
    lookup_salt: str = Field(pattern=r"^[A-Za-z0-9_-]{16,64}$", description="Salt of login_hash")
    grants: list[PickupGrant] = Field(max_length=2000)
    replace_all: bool = False


class RevokeGrantsAction(BaseModel):
    """Withdraw pickup grants (document cancelled, returned to the counter, collected elsewhere)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    action: Literal["revoke_grants"] = "revoke_grants"
    grant_ids: list[uuid.UUID] = Field(min_length=1, max_length=2000)


class SnapshotAction(BaseModel):
    """Publish a fresh state snapshot (the cloud's 'rebirth' request after a sequence gap)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    action: Literal["snapshot"] = "snapshot"


CommandAction = Annotated[
    UnlockAction | SnapshotAction | GrantsAction | RevokeGrantsAction, Field(discriminator="action")
]

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
    # Large enough for a full grant set of a 1,000-compartment box (about 400 bytes a grant).
    payload: str = Field(max_length=500_000, pattern=r"^[A-Za-z0-9_-]+$")
    signature: str = Field(max_length=128, pattern=r"^[A-Za-z0-9_-]+$")


class LoadRequest(BaseModel):
    """Staff at the kiosk want to load a document: the cloud assigns a compartment and unlocks it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["load"] = "load"
    staff_id: str = Field(min_length=1, max_length=64)
    staff_pin: str = Field(pattern=r"^[0-9]{4,12}$", description="Checked by the cloud; never logged")
    document_code: str = Field(min_length=1, max_length=64, description="Barcode or case number")


class RetrieveRequest(BaseModel):
    """Staff at the kiosk want to take a document out (holding period over, or cancelled).

    Without ``document_code`` the cloud picks the next compartment of this box flagged for
    retrieval, so staff can empty many in a row.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["retrieve"] = "retrieve"
    staff_id: str = Field(min_length=1, max_length=64)
    staff_pin: str = Field(pattern=r"^[0-9]{4,12}$", description="Checked by the cloud; never logged")
    document_code: str | None = Field(default=None, min_length=1, max_length=64)


RequestBody = Annotated[LoadRequest | RetrieveRequest, Field(discriminator="kind")]


class KioskRequest(Message):
    """A request from the box's kiosk to the cloud (QoS 1, not retained, not via the outbox).

    The cloud answers with a signed ``unlock`` command carrying ``request_id`` or with a
    :class:`KioskAnswer` on the box's answers topic.
    """

    id: uuid.UUID
    box_id: BoxId
    at: AwareDatetime
    body: RequestBody


class KioskAnswer(Message):
    """The cloud's answer to a kiosk request that did not lead to an unlock (or to say which)."""

    request_id: uuid.UUID
    box_id: BoxId
    at: AwareDatetime
    ok: bool
    code: str = Field(max_length=64, description="Machine-readable outcome, e.g. no_free_compartment")
    compartment: CompartmentNo | None = None
    message: str | None = Field(default=None, max_length=200, description="For staff, in German/English")


class CommandReply(Message):
    """The edge's answer to a command, on the box's reply topic (QoS 1, not retained)."""

    command_id: uuid.UUID | None = Field(description="Null when the command could not be parsed")
    box_id: BoxId
    at: AwareDatetime
    outcome: CommandOutcome
    reason: RejectReason | None = None
    detail: str | None = Field(default=None, max_length=200)
