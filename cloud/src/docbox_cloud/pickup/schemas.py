"""REST models of the pickup API (separate from the tables; no personal data is ever returned)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from docbox_cloud.pickup.texts import Language


class DocumentCreate(BaseModel):
    """A finished document to register (staff or the case-management system)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9\-/.]*$",
        description="Barcode on the envelope",
    )
    case_number: str = Field(min_length=1, max_length=64, description="The office's case number")
    kind: Literal["residence_permit_card", "travel_document", "other"]
    contact_channel: Literal["sms", "email"] = Field(description="How the applicant is notified")
    contact: str = Field(
        min_length=3, max_length=254, description="Phone number (sms) or e-mail address; stored encrypted"
    )
    date_of_birth: date = Field(description="Second factor at the box; stored encrypted")
    language: Language = "de"
    needs_low: bool = Field(default=False, description="Needs a low (wheelchair-accessible) compartment")
    collection: Literal["box", "appointment"] = "box"
    size: Literal["S", "M", "L"] | None = Field(
        default=None, description="Override the size the kind implies"
    )


class DocumentPublic(BaseModel):
    """A document without its personal data."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    case_number: str
    kind: str
    size: str
    needs_low: bool
    language: str
    collection: str
    status: Literal["registered", "loading", "loaded", "to_retrieve", "collected", "returned", "cancelled"]
    status_reason: str | None
    box_id: str | None
    compartment: int | None
    registered_at: datetime
    loaded_at: datetime | None
    hold_until: datetime | None
    hold_paused_since: datetime | None
    closed_at: datetime | None


class CollectionChange(BaseModel):
    """The applicant's choice of how to collect."""

    model_config = ConfigDict(extra="forbid")
    collection: Literal["box", "appointment"]


class LoadCreate(BaseModel):
    """Load (or retrieve) a document at a box via REST."""

    model_config = ConfigDict(extra="forbid")
    document_code: str | None = Field(
        default=None, min_length=1, max_length=64, description="Barcode or case number (retrieval: optional)"
    )
    staff_id: str | None = Field(default=None, min_length=1, max_length=64, description="For the audit log")


class LoadPublic(BaseModel):
    """A compartment the box confirmed open for loading or retrieval."""

    load_id: uuid.UUID
    document_id: uuid.UUID
    box_id: str
    compartment: int
    command_id: uuid.UUID


class StaffCreate(BaseModel):
    """A staff account for the kiosk's staff mode."""

    model_config = ConfigDict(extra="forbid")
    staff_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    pin: str = Field(pattern=r"^[0-9]{4,12}$")


class StaffPublic(BaseModel):
    """A staff account (never its PIN hash)."""

    model_config = ConfigDict(from_attributes=True)
    staff_id: str
    name: str
    active: bool


class DefectCreate(BaseModel):
    """Why a compartment is taken out of service."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="marked by staff", min_length=1, max_length=64)


class GridCell(BaseModel):
    """One compartment in the staff console's live picture."""

    number: int
    state: Literal["free", "loaded", "open", "alarm", "defective", "to_retrieve", "loading"]
    size: str | None
    height_cm: int | None
    door: str
    alarms: list[str]
    document_id: uuid.UUID | None = None
    document_code: str | None = None


class AuditEntryPublic(BaseModel):
    """One link of the audit chain."""

    model_config = ConfigDict(from_attributes=True)
    seq: int
    at: datetime
    action: str
    document_id: uuid.UUID | None
    box_id: str | None
    compartment: int | None
    actor: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class ChainReportPublic(BaseModel):
    """Whether the audit chain verifies, and where it breaks first."""

    ok: bool
    checked: int
    first_broken: int | None
    problem: str | None
