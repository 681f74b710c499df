"""Loading and retrieval through REST, staff accounts, defects, and the live picture of a box."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from docbox_cloud.api.deps import SessionDep, require_token
from docbox_cloud.api.errors import error_responses
from docbox_cloud.api.routes.boxes import BoxIdPath, NumberPath
from docbox_cloud.api.routes.documents import PickupDep
from docbox_cloud.pickup.grid import box_grid
from docbox_cloud.pickup.schemas import (
    DefectCreate,
    GridCell,
    LoadCreate,
    LoadPublic,
    StaffCreate,
    StaffPublic,
)
from docbox_cloud.pickup.service import LoadResult

router = APIRouter(
    prefix="/api/v1", tags=["pickup"], dependencies=[Depends(require_token)], responses=error_responses(401)
)


def _public(result: LoadResult) -> LoadPublic:
    return LoadPublic(
        load_id=result.load_id,
        document_id=result.document_id,
        box_id=result.box_id,
        compartment=result.compartment,
        command_id=result.command_id,
    )


@router.post(
    "/boxes/{box_id}/loads",
    summary="Load a document into a box",
    responses=error_responses(404, 409, 502, 503, 504),
)
async def load(box_id: BoxIdPath, body: LoadCreate, pickup: PickupDep) -> LoadPublic:
    """Assign a free compartment that fits and open it; answer once the door is seen open.

    The document counts as loaded when that door is shut again; only then is the applicant
    notified and the grant pushed to the box. 404 ``unknown_document``, 409
    ``no_free_compartment`` / ``wrong_document_state``, and the errors of opening a compartment.
    """
    return _public(await pickup.load_and_wait(box_id, body.document_code or "", staff_id=body.staff_id))


@router.post(
    "/boxes/{box_id}/retrievals",
    summary="Take a document out of a box",
    responses=error_responses(404, 409, 502, 503, 504),
)
async def retrieve(box_id: BoxIdPath, body: LoadCreate, pickup: PickupDep) -> LoadPublic:
    """Open the compartment of a document (without code: the next one flagged ``to_retrieve``).

    When the door is shut again the document counts as returned to the counter.
    """
    return _public(await pickup.retrieve_and_wait(box_id, body.document_code, staff_id=body.staff_id))


@router.get("/boxes/{box_id}/grid", summary="Live picture of a box", responses=error_responses(404))
async def grid(box_id: BoxIdPath, session: SessionDep) -> list[GridCell]:
    """Every compartment with its state: free, loading, loaded, open, alarm, defective, to_retrieve."""
    return await box_grid(session, box_id)


@router.post(
    "/boxes/{box_id}/compartments/{number}/defect",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Mark a compartment defective",
)
async def mark_defective(
    box_id: BoxIdPath, number: NumberPath, body: DefectCreate, pickup: PickupDep
) -> None:
    """Take it out of service: not assignable; the holding clock of a document inside pauses."""
    await pickup.mark_defective(box_id, number, body.reason)


@router.delete(
    "/boxes/{box_id}/compartments/{number}/defect",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Mark a compartment repaired",
)
async def mark_repaired(box_id: BoxIdPath, number: NumberPath, pickup: PickupDep) -> None:
    """Put it back into service."""
    await pickup.mark_repaired(box_id, number)


@router.post("/staff", status_code=status.HTTP_201_CREATED, summary="Create or reset a staff account")
async def create_staff(body: StaffCreate, pickup: PickupDep) -> StaffPublic:
    """A staff account for the kiosk's staff mode (loading, retrieval); the PIN is stored hashed."""
    return StaffPublic.model_validate(await pickup.create_staff(body.staff_id, body.name, body.pin))
