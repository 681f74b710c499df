"""Documents for the pickup box: register, list, change the collection channel, cancel, audit trail."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request, status
from fastapi.responses import JSONResponse

from docbox_cloud.api.deps import SessionDep, require_token
from docbox_cloud.api.errors import error_responses
from docbox_cloud.api.schemas import ErrorResponse
from docbox_cloud.pickup import audit
from docbox_cloud.pickup.errors import PickupError
from docbox_cloud.pickup.schemas import (
    AuditEntryPublic,
    ChainReportPublic,
    CollectionChange,
    DocumentCreate,
    DocumentPublic,
)
from docbox_cloud.pickup.service import NewDocument, PickupService

router = APIRouter(
    prefix="/api/v1",
    tags=["documents"],
    dependencies=[Depends(require_token)],
    responses=error_responses(401),
)


def get_pickup(request: Request) -> PickupService:
    """The app's pickup service."""
    service: PickupService = request.app.state.pickup
    return service


PickupDep = Annotated[PickupService, Depends(get_pickup)]


@router.post("/documents", status_code=status.HTTP_201_CREATED, summary="Register a finished document")
async def register_document(body: DocumentCreate, pickup: PickupDep) -> DocumentPublic:
    """Register a document; contact and date of birth are stored encrypted and never returned.

    409 ``document_exists`` for a known barcode; 422 ``invalid_input`` for an unusable phone number;
    503 ``pickup_not_configured`` without ``DOCBOX_PICKUP_DATA_KEY``.
    """
    document = await pickup.register(NewDocument(**body.model_dump()))
    return DocumentPublic.model_validate(document)


@router.get("/documents", summary="List documents")
async def list_documents(
    pickup: PickupDep,
    status_filter: Annotated[str | None, Query(alias="status", max_length=16)] = None,
) -> list[DocumentPublic]:
    """Documents, newest first (at most 500), optionally of one status."""
    return [DocumentPublic.model_validate(d) for d in await pickup.list(status=status_filter)]


@router.get("/documents/{document_id}", summary="Get one document", responses=error_responses(404))
async def get_document(document_id: uuid.UUID, pickup: PickupDep) -> DocumentPublic:
    """One document."""
    return DocumentPublic.model_validate(await pickup.get(document_id))


@router.put("/documents/{document_id}/collection", summary="Choose box or appointment")
async def change_collection(
    document_id: uuid.UUID, body: CollectionChange, pickup: PickupDep
) -> DocumentPublic:
    """The applicant's choice; 409 ``wrong_document_state`` once the document is being loaded."""
    return DocumentPublic.model_validate(await pickup.set_collection(document_id, body.collection))


@router.post("/documents/{document_id}/cancel", summary="Cancel a document")
async def cancel_document(document_id: uuid.UUID, pickup: PickupDep) -> DocumentPublic:
    """Revoke its grant; a document in the box is flagged for retrieval (``to_retrieve``)."""
    return DocumentPublic.model_validate(await pickup.cancel(document_id))


@router.get("/documents/{document_id}/audit", summary="Export one document's audit chain")
async def document_audit(document_id: uuid.UUID, session: SessionDep) -> list[AuditEntryPublic]:
    """The document's audit rows in order, each with ``prev_hash`` and ``hash`` (for verification)."""
    return [AuditEntryPublic.model_validate(e) for e in await audit.case_entries(session, document_id)]


@router.get("/audit/verify", summary="Verify the whole audit chain")
async def verify_audit(session: SessionDep) -> ChainReportPublic:
    """Recompute every hash; ``first_broken`` names the first row that was changed, inserted or removed."""
    report = await audit.verify_chain(session)
    return ChainReportPublic(
        ok=report.ok, checked=report.checked, first_broken=report.first_broken, problem=report.problem
    )


def install_pickup_error_handler(app: FastAPI) -> None:
    """Answer every :class:`PickupError` with its own status and code (an ``ErrorResponse`` body)."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PickupError)
        body = ErrorResponse(detail=str(exc), code=exc.code)
        return JSONResponse(status_code=exc.status, content=body.model_dump(mode="json"))

    app.add_exception_handler(PickupError, handle)
