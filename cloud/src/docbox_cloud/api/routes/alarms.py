"""Alarms: list, get, resolve a defective compartment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.alarms import store
from docbox_cloud.alarms.models import Alarm, AlarmType
from docbox_cloud.alarms.service import AlarmService
from docbox_cloud.api.deps import SessionDep, require_token
from docbox_cloud.api.errors import error_responses
from docbox_cloud.api.schemas import ErrorResponse

router = APIRouter(
    prefix="/api/v1",
    tags=["alarms"],
    dependencies=[Depends(require_token)],
    responses=error_responses(401),
)

AlarmIdPath = Annotated[int, Path(ge=1, description="Alarm number")]


class AlarmPublic(BaseModel):
    """An alarm, active or cleared."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Alarm number")
    box_id: str
    compartment: int | None = Field(description="Null for alarms about the whole box")
    kind: AlarmType
    detail: str | None = Field(description="What the box or the cloud said about it")
    active: bool
    raised_at: datetime = Field(description="When it started (box clock for the box's own alarms)")
    cleared_at: datetime | None

    @classmethod
    def of(cls, alarm: Alarm) -> AlarmPublic:
        """The public view of a stored alarm."""
        return cls(
            id=alarm.id,
            box_id=alarm.box_id,
            compartment=alarm.compartment,
            kind=AlarmType(alarm.kind),
            detail=alarm.detail,
            active=alarm.active_key is not None,
            raised_at=alarm.raised_at,
            cleared_at=alarm.cleared_at,
        )


@router.get("/alarms", summary="List alarms")
async def list_alarms(
    session: SessionDep,
    active: Annotated[bool | None, Query(description="Only active (true) or cleared (false) ones")] = None,
    box_id: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] = None,
    kind: Annotated[list[AlarmType] | None, Query(description="Only these kinds (repeatable)")] = None,
    before_id: Annotated[int | None, Query(ge=1, description="Page: alarms older than this number")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlarmPublic]:
    """Alarms, newest first."""
    alarms = await store.list_alarms(
        session, active=active, box_id=box_id, kinds=kind or (), limit=limit, before_id=before_id
    )
    return [AlarmPublic.of(alarm) for alarm in alarms]


@router.get(
    "/alarms/{alarm_id}",
    summary="Get one alarm",
    responses={404: {"model": ErrorResponse, "description": "No such alarm"}},
)
async def get_alarm(alarm_id: AlarmIdPath, session: SessionDep) -> AlarmPublic:
    """One alarm."""
    return AlarmPublic.of(await store.get_alarm(session, alarm_id))


@router.post(
    "/alarms/{alarm_id}/resolve",
    summary="Resolve a compartment_defective alarm",
    responses={
        404: {"model": ErrorResponse, "description": "No such alarm"},
        409: {"model": ErrorResponse, "description": "Cleared already, or it clears by itself"},
        503: {"model": ErrorResponse, "description": "The database is unavailable"},
    },
)
async def resolve_alarm(alarm_id: AlarmIdPath, request: Request) -> AlarmPublic:
    """Mark a defective compartment as repaired. Every other alarm clears when its condition ends."""
    return AlarmPublic.of(await _service(request).resolve(alarm_id))


def _service(request: Request) -> AlarmService:
    service: AlarmService | None = getattr(request.app.state, "alarms", None)
    if service is None:
        # The app was built without monitoring (tests): a service without side channels.
        sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
        service = AlarmService(sessions)
    return service
