"""Request and response models of the REST API (separate from the database models)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from docbox_protocol.ids import BoxId


class BoxCreate(BaseModel):
    """A box to register."""

    model_config = ConfigDict(extra="forbid")

    box_id: BoxId
    name: str = Field(min_length=1, max_length=200, description="Where the box stands, for people")


class BoxPublic(BaseModel):
    """A registered box and its connection state."""

    model_config = ConfigDict(from_attributes=True)

    box_id: str = Field(validation_alias="id", description="Box identifier")
    name: str
    registered_at: datetime
    online: bool = Field(description="Whether the box's last status was its birth (not its will)")
    session: int | None = Field(description="Connection session counter; null until first heard of")
    last_seen: datetime | None = Field(description="When the cloud last received anything from it")
    max_seq: int = Field(description="Highest event sequence number stored")


class CompartmentPublic(BaseModel):
    """One compartment with its live state as last reported by the box."""

    model_config = ConfigDict(from_attributes=True)

    number: int = Field(description="Compartment number as printed on the door (1-based)")
    size: Literal["S", "M", "L"] | None
    height_cm: int | None = Field(description="Floor to door bottom; low ones suit wheelchair users")
    door: Literal["open", "closed", "unknown"]
    locked: bool
    alarms: list[str] = Field(description="Active alarms: forced_open, left_open, jammed, flapping")
    state_seq: int = Field(description="Sequence number of the event or snapshot that set this state")
    updated_at: datetime


class OpenResult(BaseModel):
    """The box confirmed by its door sensor that the compartment opened."""

    command_id: uuid.UUID
    box_id: str
    compartment: int
    outcome: Literal["opened"] = "opened"
    confirmed_at: datetime = Field(description="When the box sent its confirmation (box clock)")


class ErrorResponse(BaseModel):
    """Body of every error answer except 422, which carries pydantic's validation detail."""

    detail: str = Field(description="What went wrong, for people")
    code: str = Field(description="Stable machine-readable error code, e.g. command_rejected")
    command_id: uuid.UUID | None = Field(default=None, description="The command concerned, if any")
    reason: str | None = Field(default=None, description="The box's reject reason, e.g. door_already_open")


class Health(BaseModel):
    """Liveness and the state of the service's connections."""

    status: Literal["ok"] = "ok"
    mqtt: Literal["connected", "disconnected", "disabled"]
