"""Routes of the staff console under ``/staff``: pages and the JSON endpoints they poll."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.staticfiles import StaticFiles

from docbox_cloud import boxes
from docbox_cloud.api.deps import SessionDep
from docbox_cloud.api.routes.boxes import BoxIdPath, NumberPath
from docbox_cloud.api.routes.documents import PickupDep
from docbox_cloud.pages.staff.auth import (
    COOKIE,
    StaffSignInRequired,
    require_staff,
    session_value,
    token_matches,
)
from docbox_cloud.pickup.errors import PickupError
from docbox_cloud.pickup.grid import box_grid
from docbox_cloud.pickup.schemas import DocumentCreate, GridCell
from docbox_cloud.pickup.service import NewDocument
from docbox_cloud.pickup.texts import LANGUAGES
from docbox_cloud.settings import CloudSettings

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=_HERE / "templates")
router = APIRouter(prefix="/staff", include_in_schema=False)
StaffDep = Annotated[str, Depends(require_staff)]


async def _form(request: Request) -> dict[str, str]:
    # URL-encoded forms parsed by hand: no multipart dependency for three small forms.
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    """The sign-in form."""
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the token; set the session cookie and go to the register."""
    settings: CloudSettings = request.app.state.settings
    form = await _form(request)
    if not token_matches(settings, form.get("token", "")):
        return templates.TemplateResponse(request, "login.html", {"error": "Wrong token"}, status_code=401)
    response = RedirectResponse("/staff/", status_code=303)
    response.set_cookie(
        COOKIE,
        session_value(settings),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/staff",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(COOKIE, path="/staff")
    return response


@router.get("/", response_class=HTMLResponse)
async def register_page(
    request: Request, staff: StaffDep, pickup: PickupDep, session: SessionDep
) -> Response:
    """The document register with the registration form and links to the boxes."""
    return templates.TemplateResponse(
        request,
        "register.html",
        {
            "documents": await pickup.list(),
            "boxes": await boxes.list_boxes(session),
            "languages": LANGUAGES,
            "error": request.query_params.get("error"),
        },
    )


@router.post("/documents")
async def register_document(request: Request, staff: StaffDep, pickup: PickupDep) -> Response:
    """Register a document from the form; errors come back as a message on the page."""
    form = await _form(request)
    try:
        body = DocumentCreate(
            code=form.get("code", ""),
            case_number=form.get("case_number", ""),
            kind=form.get("kind", ""),
            contact_channel=form.get("contact_channel", ""),
            contact=form.get("contact", ""),
            date_of_birth=date.fromisoformat(form.get("date_of_birth", "")),
            language=form.get("language", "de"),
            needs_low=form.get("needs_low") == "on",
        )
        await pickup.register(NewDocument(**body.model_dump()), actor=staff)
    except (ValidationError, ValueError) as exc:
        return _back(f"invalid input: {_first_error(exc)}")
    except PickupError as exc:
        return _back(str(exc))
    return RedirectResponse("/staff/", status_code=303)


@router.get("/boxes/{box_id}", response_class=HTMLResponse)
async def box_page(request: Request, box_id: BoxIdPath, staff: StaffDep, session: SessionDep) -> Response:
    """The live grid of one box (the page polls :func:`grid_json`)."""
    box = await boxes.get_box(session, box_id)
    return templates.TemplateResponse(request, "box.html", {"box": box})


@router.get("/api/boxes/{box_id}/grid")
async def grid_json(box_id: BoxIdPath, staff: StaffDep, session: SessionDep) -> list[GridCell]:
    """The grid the box page polls every few seconds."""
    return await box_grid(session, box_id)


@router.post("/api/boxes/{box_id}/compartments/{number}/{action}")
async def compartment_action(
    box_id: BoxIdPath,
    number: NumberPath,
    action: str,
    staff: StaffDep,
    pickup: PickupDep,
    session: SessionDep,
) -> dict[str, Any]:
    """``defective``, ``repaired`` or ``retrieve`` one compartment from the grid."""
    if action == "defective":
        await pickup.mark_defective(box_id, number, "marked by staff", actor=staff)
        return {"ok": True}
    if action == "repaired":
        return {"ok": await pickup.mark_repaired(box_id, number, actor=staff)}
    if action == "retrieve":
        cell = next((c for c in await box_grid(session, box_id) if c.number == number), None)
        if cell is None or cell.document_code is None:
            return {"ok": False, "error": "no document in this compartment"}
        await session.commit()  # release the read transaction before waiting for the box
        result = await pickup.retrieve_and_wait(box_id, cell.document_code, staff_id=None)
        return {"ok": True, "compartment": result.compartment}
    return {"ok": False, "error": f"unknown action {action[:20]!r}"}


def _back(error: str) -> Response:
    return RedirectResponse(f"/staff/?error={quote(error[:200])}", status_code=303)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


def install_staff_pages(app: FastAPI) -> None:
    """Mount the console's static files and send signed-out page requests to the sign-in form."""
    app.mount("/staff/static", StaticFiles(directory=_HERE / "static"), name="staff-static")

    async def signed_out(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/staff/api/"):
            return JSONResponse({"detail": "staff sign-in required", "code": "unauthorized"}, status_code=401)
        return RedirectResponse("/staff/login", status_code=303)

    app.add_exception_handler(StaffSignInRequired, signed_out)


__all__ = ["install_staff_pages", "router"]
