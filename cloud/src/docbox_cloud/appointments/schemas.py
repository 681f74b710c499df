"""Request and response models of the appointment API (separate from the database models)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from docbox_cloud.appointments.categories import CategoryName, EmergencyCase

Language = Literal["de", "en", "ar", "tr", "uk", "ru", "fa", "fr"]
SlotKind = Literal["emergency", "ordinary", "pickup"]
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"
OFFICE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Contact(BaseModel):
    """Where the applicant receives codes and confirmations."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "sms"] = "email"
    address: str = Field(
        min_length=3, max_length=254, description="E-mail address, or phone number in E.164 form"
    )

    @model_validator(mode="after")
    def _check_address(self) -> Contact:
        import re

        pattern = EMAIL_PATTERN if self.channel == "email" else PHONE_PATTERN
        if not re.fullmatch(pattern, self.address):
            what = "an e-mail address" if self.channel == "email" else "a phone number like +4915112345678"
            raise ValueError(f"address must be {what}")
        return self


class ChallengePublic(BaseModel):
    """A proof-of-work challenge in the ALTCHA widget's format."""

    algorithm: str
    challenge: str
    maxnumber: int
    salt: str
    signature: str


class SlotPublic(BaseModel):
    """A bookable slot."""

    slot_id: int
    kind: SlotKind
    starts_at: datetime = Field(description="Start (UTC)")
    ends_at: datetime = Field(description="End (UTC)")
    local_start: str = Field(description="Start in the office's time zone, ISO 8601 with offset")
    counter: str = Field(description="Counter name")


class OfficePublic(BaseModel):
    """What the public may know about an office."""

    office_id: str
    name: str
    timezone: str
    restricted: bool = Field(description="Restricted mode: only emergency (and pickup) bookings are accepted")
    emergency_mode: Literal["direct", "triage"]
    categories: list[CategoryName]
    evidence: dict[str, list[str]] = Field(description="Evidence to declare, per category")


class ReserveRequest(BaseModel):
    """Reserve (hold) a slot."""

    model_config = ConfigDict(extra="forbid")

    slot_id: int
    language: Language = "de"
    contact: Contact
    case: EmergencyCase | None = Field(default=None, description="Required for emergency slots")
    document_number: str | None = Field(
        default=None,
        min_length=5,
        max_length=30,
        description="Passport or document number; stored only as a keyed hash (one emergency booking each)",
    )
    document_ref: str | None = Field(
        default=None, min_length=1, max_length=100, description="Document to collect (pickup slots)"
    )
    altcha: str | None = Field(
        default=None, max_length=4000, description="Solved proof-of-work payload (ALTCHA)"
    )


class ReservationPublic(BaseModel):
    """A held reservation: confirm it with the code sent to the applicant before it runs out."""

    booking_id: uuid.UUID
    reference: str
    status: Literal["held"]
    slot: SlotPublic
    hold_expires_at: datetime
    hold_token: str = Field(
        description="128-bit token to extend or release this hold (keep it in the client)"
    )
    extensions_left: int


class HoldTokenBody(BaseModel):
    """The hold token returned by the reservation."""

    model_config = ConfigDict(extra="forbid")

    hold_token: str = Field(min_length=16, max_length=64)


class HoldPublic(BaseModel):
    """A hold's new expiry."""

    booking_id: uuid.UUID
    hold_expires_at: datetime
    extensions_left: int


class ConfirmByCode(BaseModel):
    """The code from the message."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9]{6}$")


class TokenBody(BaseModel):
    """A token from a link (confirmation, cancellation, triage offer or status)."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=16, max_length=64)


class BookingPublic(BaseModel):
    """A booking as its holder sees it."""

    booking_id: uuid.UUID
    reference: str
    office_id: str
    status: str
    kind: SlotKind
    category: CategoryName | None
    slot: SlotPublic
    confirmed_at: datetime | None
    cancel_token: str | None = Field(
        default=None, description="128-bit cancellation token; returned once, with the confirmation"
    )


class TriageRequestCreate(BaseModel):
    """File an emergency request for triage."""

    model_config = ConfigDict(extra="forbid")

    language: Language = "de"
    contact: Contact
    case: EmergencyCase
    document_number: str = Field(min_length=5, max_length=30)
    altcha: str | None = Field(default=None, max_length=4000)


class OfferPublic(BaseModel):
    """The slot offered to a triage request."""

    slot: SlotPublic
    expires_at: datetime


class TriageRequestPublic(BaseModel):
    """A triage request as its applicant sees it."""

    request_id: uuid.UUID
    status: Literal["pending", "offered", "booked", "declined", "lapsed", "withdrawn"]
    category: CategoryName
    deadline: date
    filed_at: datetime
    offer: OfferPublic | None = None
    status_token: str | None = Field(default=None, description="Returned once, at filing")


# --- staff ---------------------------------------------------------------------------------


#: Path words of the booking page that an office id must not be.
RESERVED_OFFICE_IDS = frozenset({"cancel", "confirm", "hold", "offer", "request", "static"})


class OfficeCreate(BaseModel):
    """Register an office."""

    model_config = ConfigDict(extra="forbid")

    office_id: str = Field(
        pattern=OFFICE_ID_PATTERN, description="Lowercase id (not a booking-page path word)"
    )
    name: str = Field(min_length=1, max_length=200)
    state: str = Field(
        pattern=r"^(BB|BE|BW|BY|HB|HE|HH|MV|NI|NW|RP|SH|SL|SN|ST|TH)$", description="German state"
    )
    timezone: str = "Europe/Berlin"
    organizer_email: str = Field(pattern=EMAIL_PATTERN)
    restricted: bool = False
    emergency_mode: Literal["direct", "triage"] = "direct"

    @model_validator(mode="after")
    def _not_reserved(self) -> OfficeCreate:
        if self.office_id in RESERVED_OFFICE_IDS:
            raise ValueError(f"office_id must not be one of {sorted(RESERVED_OFFICE_IDS)}")
        return self


class OfficeUpdate(BaseModel):
    """Switch restricted mode or the emergency mode."""

    model_config = ConfigDict(extra="forbid")

    restricted: bool | None = None
    emergency_mode: Literal["direct", "triage"] | None = None


class ServiceCreate(BaseModel):
    """A service with its duration."""

    model_config = ConfigDict(extra="forbid")

    service_id: str = Field(pattern=OFFICE_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    kind: SlotKind
    duration_min: int = Field(ge=1, le=480)


class CounterCreate(BaseModel):
    """A counter serving one service."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    service_id: str


class CounterPublic(BaseModel):
    """A counter."""

    counter_id: int
    name: str
    service_id: str
    active: bool


class OpeningInterval(BaseModel):
    """Opening interval on a weekday (0 = Monday), local time."""

    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=0, le=6)
    opens: time
    closes: time

    @model_validator(mode="after")
    def _ordered(self) -> OpeningInterval:
        if self.opens >= self.closes:
            raise ValueError("opens must be before closes")
        return self


class ClosureCreate(BaseModel):
    """Closed days (whole office, or one counter)."""

    model_config = ConfigDict(extra="forbid")

    first_day: date
    last_day: date
    counter_id: int | None = None
    reason: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> ClosureCreate:
        if self.first_day > self.last_day:
            raise ValueError("first_day must not be after last_day")
        return self


class SlotGeneration(BaseModel):
    """Generate slots for a range of days."""

    model_config = ConfigDict(extra="forbid")

    first_day: date
    last_day: date


class SlotGenerationResult(BaseModel):
    """How many slots were added."""

    created: int


class RoundOffer(BaseModel):
    """One offer made in a triage round."""

    request_id: uuid.UUID
    booking_id: uuid.UUID
    slot_id: int
    starts_at: datetime
    deadline: date
    rank: int = Field(description="1-based position in the round's ranking")


class RoundResult(BaseModel):
    """What a triage round did."""

    expired_offers: int
    offers: list[RoundOffer]
    pending_without_slot: int


class DayListEntry(BaseModel):
    """One appointment on a counter's day list (no personal data beyond what staff need)."""

    booking_id: uuid.UUID
    reference: str
    counter_id: int
    counter: str
    starts_at: datetime
    ends_at: datetime
    local_start: str
    kind: SlotKind
    category: CategoryName | None
    status: str
    language: str
    evidence: list[str]


class CategoryStats(BaseModel):
    """Anonymous counts for one category (``ordinary``/``pickup`` for those kinds)."""

    category: str
    by_status: dict[str, int]
    triage_requests: int


class StatsPublic(BaseModel):
    """Counts per category between two days (inclusive)."""

    first_day: date
    last_day: date
    categories: list[CategoryStats]


class HousekeepingResult(BaseModel):
    """What a housekeeping run changed."""

    expired_holds: int
    expired_offers: int
    closed_no_shows: int
    reminders: int
    anonymised_bookings: int
    anonymised_requests: int
    purged: int
