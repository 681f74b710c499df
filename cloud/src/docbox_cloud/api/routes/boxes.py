"""Boxes and compartments: list, register, open."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from docbox_cloud import boxes
from docbox_cloud.api.deps import BridgeDep, SessionDep, require_bridge, require_token
from docbox_cloud.api.errors import error_responses
from docbox_cloud.api.schemas import BoxCreate, BoxPublic, CompartmentPublic, OpenResult
from docbox_cloud.bridge import ensure_opened

router = APIRouter(
    prefix="/api/v1",
    tags=["boxes"],
    dependencies=[Depends(require_token)],
    responses=error_responses(401),
)

BoxIdPath = Annotated[
    str,
    Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Box id: lowercase letters, digits, '-'"),
]
NumberPath = Annotated[int, Path(ge=1, le=9999, description="Compartment number (1-based)")]


@router.get("/boxes", summary="List the registered boxes")
async def list_boxes(session: SessionDep) -> list[BoxPublic]:
    """Every registered box with its connection state, ordered by id."""
    return [BoxPublic.model_validate(box) for box in await boxes.list_boxes(session)]


@router.post(
    "/boxes",
    status_code=status.HTTP_201_CREATED,
    summary="Register a box",
    responses=error_responses(409),
)
async def register_box(body: BoxCreate, session: SessionDep) -> BoxPublic:
    """Register a box; its compartments appear with the first state snapshot it publishes."""
    return BoxPublic.model_validate(await boxes.register_box(session, body.box_id, body.name))


@router.get("/boxes/{box_id}", summary="Get one box", responses=error_responses(404))
async def get_box(box_id: BoxIdPath, session: SessionDep) -> BoxPublic:
    """One box with its connection state."""
    return BoxPublic.model_validate(await boxes.get_box(session, box_id))


@router.get(
    "/boxes/{box_id}/compartments",
    summary="List a box's compartments",
    responses=error_responses(404),
)
async def list_compartments(box_id: BoxIdPath, session: SessionDep) -> list[CompartmentPublic]:
    """The compartments of a box with their live door, lock and alarm state, by number."""
    compartments = await boxes.list_compartments(session, box_id)
    return [CompartmentPublic.model_validate(c) for c in compartments]


@router.post(
    "/boxes/{box_id}/compartments/{number}/open",
    summary="Open a compartment",
    responses=error_responses(404, 409, 502, 503, 504),
)
async def open_compartment(box_id: BoxIdPath, number: NumberPath, bridge: BridgeDep) -> OpenResult:
    """Send a signed unlock command and answer once the box's door sensor saw the door open.

    409 when the box rejected the command (``reason`` says why, e.g. ``door_already_open``),
    502 when the lock was released but the door never opened (``jammed``), 504 when the box
    did not answer in time, 503 when the cloud is not connected to the broker.
    """
    # No database session here: the wait for the box must not hold a transaction open.
    reply = ensure_opened(await require_bridge(bridge).open_compartment(box_id, number))
    assert reply.command_id is not None
    return OpenResult(command_id=reply.command_id, box_id=box_id, compartment=number, confirmed_at=reply.at)
