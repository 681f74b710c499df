"""Routes of the reference booking page under ``/booking`` (server-rendered, eight languages).

Every page works with the same services as the REST API, in one transaction per request.
Secrets never appear in page URLs the applicant did not receive by message: the hold token
lives in an HttpOnly, SameSite=Strict cookie; confirmation, cancellation and offer tokens
arrive by message and are sent back by POST. Responses carry a strict Content-Security-Policy
and ``Referrer-Policy: no-referrer`` so tokens in link URLs never leak to other sites.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.api.deps import SessionDep
from docbox_cloud.api.routes.appointments import RuntimeDep, client_address
from docbox_cloud.appointments import booking, pow, triage
from docbox_cloud.appointments.categories import CATEGORIES, EVIDENCE
from docbox_cloud.appointments.errors import (
    AppointmentError,
    HoldExpiredError,
    InvalidRequestError,
    NotFoundError,
    WrongCodeError,
)
from docbox_cloud.appointments.i18n import LANGUAGES, RTL_LANGUAGES, Translator, translator
from docbox_cloud.appointments.models import Booking, Counter, Office, Slot
from docbox_cloud.appointments.runtime import AppointmentRuntime, utc_now
from docbox_cloud.appointments.schemas import Contact, ReserveRequest, TriageRequestCreate
from docbox_cloud.appointments.tokens import person_hash
from docbox_cloud.db import transaction
from docbox_cloud.notify import mask_recipient
from docbox_cloud.pages.booking.forms import (
    DATE_FIELD,
    case_payload,
    category_of,
    check_details,
    first,
    read_form,
)

router = APIRouter(prefix="/booking", include_in_schema=False)

_env = Environment(
    loader=PackageLoader("docbox_cloud.pages.booking", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_STATIC = {"booking.css": "text/css; charset=utf-8", "booking.js": "text/javascript; charset=utf-8"}
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
HOLD_COOKIE = "docbox_hold"
#: Warn this many seconds before a hold runs out (WCAG 2.2.1 asks for at least 20).
WARN_BEFORE_S = 120

LangPath = Annotated[str, Path(pattern=r"^(de|en|ar|tr|uk|ru|fa|fr)$")]
OfficePath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


def _render(template: str, lang: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    t = translator(lang)
    html = _env.get_template(template).render(
        lang=t.language,
        dir=t.direction,
        t=t,
        languages=[(code, translator(code)("lang_name"), code in RTL_LANGUAGES) for code in LANGUAGES],
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=_SECURITY_HEADERS)


def _error_text(t: Translator, exc: AppointmentError) -> str:
    if exc.code == "rate_limited":
        return t("err_rate_limited", seconds=exc.retry_after_s or 60)
    if exc.code == "invalid_request":
        return t("err_invalid_request", detail=str(exc))
    return t(f"err_{exc.code}")


def _limit(request: Request, runtime: AppointmentRuntime) -> None:
    runtime.ip_limiter.take(client_address(request), runtime.monotonic())


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The page's stylesheet and script (a fixed list; nothing else is served)."""
    if name not in _STATIC:
        return Response(status_code=404)
    data = (files("docbox_cloud.pages.booking") / "static" / name).read_bytes()
    return Response(data, media_type=_STATIC[name], headers={"Cache-Control": "public, max-age=3600"})


@router.get("", response_class=HTMLResponse)
async def choose_language(request: Request) -> HTMLResponse:
    """The language choice, each language named in itself."""
    accepted = request.headers.get("accept-language", "")[:2].lower()
    return _render("languages.html", accepted if accepted in LANGUAGES else "de")


@router.get("/{lang}", response_class=HTMLResponse)
async def choose_office(lang: LangPath, session: SessionDep) -> Response:
    """The offices to book at (straight to the office when there is only one)."""
    offices = list((await session.scalars(select(Office).order_by(Office.name))).all())
    if len(offices) == 1:
        return RedirectResponse(f"/booking/{lang}/{offices[0].id}", status_code=303)
    return _render("offices.html", lang, offices=offices)


@router.get("/{lang}/{office_id}/next", response_class=HTMLResponse)
async def next_step(
    lang: LangPath,
    office_id: OfficePath,
    session: SessionDep,
    runtime: RuntimeDep,
    category: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Where the reason leads: slots, the triage form, or the restricted-mode refusal."""
    office = await _office(session, office_id)
    if category == "ordinary":
        if office.restricted:
            return _render("refused.html", lang, 403, office=office)
        return RedirectResponse(f"/booking/{lang}/{office_id}/slots?category=ordinary", status_code=303)
    chosen = category_of(category)
    if chosen is None:
        return await start(lang, office_id, session, runtime)
    if office.emergency_mode == "triage":
        return RedirectResponse(f"/booking/{lang}/{office_id}/request?category={chosen}", status_code=303)
    return RedirectResponse(f"/booking/{lang}/{office_id}/slots?category={chosen}", status_code=303)


@router.get("/{lang}/{office_id}/slots", response_class=HTMLResponse)
async def slots(
    lang: LangPath,
    office_id: OfficePath,
    session: SessionDep,
    runtime: RuntimeDep,
    category: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Free slots grouped by day (direct mode only)."""
    office = await _office(session, office_id)
    kind = "ordinary" if category == "ordinary" else "emergency"
    if kind == "ordinary" and office.restricted:
        return _render("refused.html", lang, 403, office=office)
    if kind == "emergency" and (category_of(category) is None or office.emergency_mode == "triage"):
        return RedirectResponse(f"/booking/{lang}/{office_id}", status_code=303)
    now = runtime.clock()
    query = booking.FreeSlotQuery(
        office_id, kind, now, now + timedelta(days=runtime.ctx.settings.horizon_days), 300
    )
    found = await booking.free_slots(session, runtime.ctx, now, query)
    counters = await _counter_names(session, {s.counter_id for s in found})
    t = translator(lang)
    days: dict[str, list[dict[str, Any]]] = {}
    for slot in found:
        label = t.when(slot.starts_at, office.timezone).rsplit(", ", 1)[0]
        days.setdefault(label, []).append(
            {
                "id": slot.id,
                "time": t.time(slot.starts_at, office.timezone),
                "counter": counters[slot.counter_id],
            }
        )
    return _render("slots.html", lang, office=office, category=category, days=days)


@router.get("/{lang}/{office_id}/details", response_class=HTMLResponse)
async def details(
    lang: LangPath,
    office_id: OfficePath,
    session: SessionDep,
    runtime: RuntimeDep,
    category: Annotated[str, Query(max_length=32)] = "",
    slot: Annotated[int | None, Query()] = None,
) -> Response:
    """The details form for the chosen slot (with a proof-of-work challenge)."""
    office = await _office(session, office_id)
    if slot is None:
        return RedirectResponse(f"/booking/{lang}/{office_id}/slots?category={category}", status_code=303)
    return await _details_page(session, runtime, lang, office, category, slot, {}, {})


async def _details_page(
    session: AsyncSession,
    runtime: AppointmentRuntime,
    lang: str,
    office: Office,
    category: str,
    slot_id: int | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    general_error: str | None = None,
) -> HTMLResponse:
    t = translator(lang)
    slot_label = None
    if slot_id is not None:
        slot = await session.get(Slot, slot_id)
        if slot is None or slot.office_id != office.id:
            raise NotFoundError("no such slot")
        counters = await _counter_names(session, {slot.counter_id})
        counter_label = t("slot_counter", counter=counters[slot.counter_id])
        slot_label = f"{t.when(slot.starts_at, office.timezone)}, {counter_label}"
    chosen = category_of(category)
    settings = runtime.ctx.settings
    challenge = pow.create_challenge(
        runtime.ctx.pow_key, settings.pow_max_number, utc_now() + timedelta(seconds=settings.pow_ttl_s)
    )
    error_list = [(field, t(key)) for field, key in errors.items()]
    return _render(
        "details.html",
        lang,
        status_code,
        office=office,
        category=category,
        chosen=chosen,
        date_field=DATE_FIELD.get(chosen) if chosen else None,
        evidence=EVIDENCE.get(chosen, ()) if chosen else (),
        slot_id=slot_id,
        slot_label=slot_label,
        values=values,
        errors=dict(error_list),
        error_list=error_list,
        general_error=general_error,
        challenge=challenge,
        triage=slot_id is None,
        offer_hours=settings.offer_window_s // 3600,
    )


async def _failed_details(
    session: AsyncSession,
    runtime: AppointmentRuntime,
    lang: str,
    office: Office,
    category: str,
    slot_id: int | None,
    values: dict[str, Any],
    exc: AppointmentError,
) -> HTMLResponse:
    """The details form again, with the service's refusal at the field it concerns when it names one."""
    chosen = category_of(category)
    date_field = DATE_FIELD[chosen] if chosen else None
    if isinstance(exc, InvalidRequestError) and date_field and str(exc).startswith(f"{date_field}:"):
        errors = {date_field: "err_not_emergency"}
        return await _details_page(
            session, runtime, lang, office, category, slot_id, values, errors, exc.status
        )
    general = _error_text(translator(lang), exc)
    return await _details_page(
        session, runtime, lang, office, category, slot_id, values, {}, exc.status, general
    )


@router.post("/{lang}/{office_id}/reserve", response_class=HTMLResponse)
async def reserve(lang: LangPath, office_id: OfficePath, request: Request, runtime: RuntimeDep) -> Response:
    """Check the form, redeem the proof of work, hold the slot; then go to the hold page."""
    form = await read_form(request)
    category = first(form, "category")
    chosen = category_of(category)
    try:
        slot_id = int(first(form, "slot"))
    except ValueError:
        return RedirectResponse(f"/booking/{lang}/{office_id}", status_code=303)
    checked = check_details(form, chosen)
    sessions = request.app.state.sessions
    async with transaction(sessions) as session:
        office = await _office(session, office_id)
        if not checked.ok:
            return await _details_page(
                session, runtime, lang, office, category, slot_id, checked.values, checked.errors, 422
            )
    try:
        _limit(request, runtime)
        body = ReserveRequest(
            slot_id=slot_id,
            language=lang,
            contact=Contact(channel="email", address=checked.values["email"]),
            case=case_payload(chosen, checked) if chosen else None,
            document_number=checked.values.get("document_number"),
            altcha=first(form, "altcha") or None,
        )
        if body.document_number:
            runtime.person_limiter.take(
                person_hash(body.document_number, runtime.ctx.person_key), runtime.monotonic()
            )
        async with transaction(sessions) as session:
            await pow.redeem(
                session,
                body.altcha,
                runtime.ctx.pow_key,
                utc_now(),
                timedelta(seconds=runtime.ctx.settings.pow_ttl_s),
            )
            reservation, _ = await booking.reserve(session, runtime.ctx, runtime.clock(), office_id, body)
    except AppointmentError as exc:
        async with transaction(sessions) as session:
            return await _failed_details(
                session, runtime, lang, office, category, slot_id, checked.values, exc
            )
    runtime.kick()
    response = RedirectResponse(f"/booking/{lang}/hold/{reservation.booking_id}", status_code=303)
    response.set_cookie(
        HOLD_COOKIE,
        f"{reservation.booking_id}:{reservation.hold_token}",
        httponly=True,
        samesite="strict",
        path="/booking",
    )
    return response


@router.get("/{lang}/hold/{booking_id}", response_class=HTMLResponse)
async def hold(
    lang: LangPath, booking_id: uuid.UUID, request: Request, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """The held reservation: countdown with a warning and extension, and the code form."""
    return await _hold_page(session, runtime, lang, booking_id, request)


async def _hold_page(
    session: AsyncSession,
    runtime: AppointmentRuntime,
    lang: str,
    booking_id: uuid.UUID,
    request: Request,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    held = await session.get(Booking, booking_id)
    if held is None or _hold_token(request, booking_id) is None:
        return _render("message.html", lang, 404, heading=translator(lang)("err_not_found"), text=None)
    office, slot, counter = await _context(session, held)
    t = translator(lang)
    expired = held.status != "held" or held.hold_expires_at is None or held.hold_expires_at <= runtime.clock()
    return _render(
        "hold.html",
        lang,
        status_code,
        booking=held,
        office=office,
        when=t.when(slot.starts_at, office.timezone),
        where=f"{office.name}, {t('slot_counter', counter=counter.name)}",
        until=t.time(held.hold_expires_at, office.timezone) if held.hold_expires_at else "",
        remaining_s=max(0, int((held.hold_expires_at - runtime.clock()).total_seconds()))
        if held.hold_expires_at
        else 0,
        contact=mask_recipient(held.contact or ""),
        expired=expired,
        can_extend=held.extensions < runtime.ctx.settings.max_extensions,
        extension_minutes=runtime.ctx.settings.hold_extension_s // 60,
        warn_before_s=WARN_BEFORE_S,
        error=error,
        notice=notice,
    )


def _hold_token(request: Request, booking_id: uuid.UUID) -> str | None:
    value = request.cookies.get(HOLD_COOKIE, "")
    booking_part, _, token = value.partition(":")
    return token if booking_part == str(booking_id) and token else None


@router.post("/{lang}/hold/{booking_id}/extend", response_class=HTMLResponse)
async def extend(lang: LangPath, booking_id: uuid.UUID, request: Request, runtime: RuntimeDep) -> Response:
    """Extend the hold (the warning's button)."""
    token = _hold_token(request, booking_id)
    t = translator(lang)
    async with transaction(request.app.state.sessions) as session:
        try:
            await booking.extend(session, runtime.ctx, runtime.clock(), booking_id, token or "")
        except AppointmentError as exc:
            error = _error_text(t, exc)
        else:
            return await _hold_page(session, runtime, lang, booking_id, request, notice=t("extended"))
    async with transaction(request.app.state.sessions) as session:
        return await _hold_page(session, runtime, lang, booking_id, request, error=error, status_code=409)


@router.post("/{lang}/hold/{booking_id}/confirm", response_class=HTMLResponse)
async def confirm(lang: LangPath, booking_id: uuid.UUID, request: Request, runtime: RuntimeDep) -> Response:
    """Confirm with the code; a wrong code is counted (committed) and the form shown again."""
    form = await read_form(request)
    code = first(form, "code")
    t = translator(lang)
    if not (len(code) == 6 and code.isdigit()):
        async with transaction(request.app.state.sessions) as session:
            return await _hold_page(
                session, runtime, lang, booking_id, request, error=t("err_code"), status_code=422
            )
    failure: AppointmentError | None = None
    try:
        async with transaction(request.app.state.sessions) as session:
            try:
                confirmed = await booking.confirm_by_code(
                    session, runtime.ctx, runtime.clock(), booking_id, code
                )
            except (WrongCodeError, HoldExpiredError) as exc:
                failure = exc  # committed: the attempt counts
    except AppointmentError as exc:
        failure = exc  # rolled back
    if failure is not None:
        async with transaction(request.app.state.sessions) as session:
            return await _hold_page(
                session,
                runtime,
                lang,
                booking_id,
                request,
                error=_error_text(t, failure),
                status_code=failure.status,
            )
    runtime.kick()
    response = await _confirmed_page(request, runtime, lang, booking_id, confirmed.cancel_token)
    response.delete_cookie(HOLD_COOKIE, path="/booking")
    return response


async def _confirmed_page(
    request: Request, runtime: AppointmentRuntime, lang: str, booking_id: uuid.UUID, cancel_token: str | None
) -> HTMLResponse:
    async with transaction(request.app.state.sessions) as session:
        confirmed = await session.get(Booking, booking_id)
        assert confirmed is not None
        office, slot, counter = await _context(session, confirmed)
    t = translator(lang)
    chosen = category_of(confirmed.category or "")
    evidence = EVIDENCE[chosen] if chosen else ()
    return _render(
        "confirmed.html",
        lang,
        when=t.when(slot.starts_at, office.timezone),
        where=f"{office.name}, {t('slot_counter', counter=counter.name)}",
        reference=confirmed.id.hex[:8].upper(),
        evidence=[t(f"ev_{item}") for item in evidence] or [t("ev_none")],
        cancel_link=f"/booking/{lang}/cancel?t={cancel_token}" if cancel_token else None,
    )


@router.get("/{lang}/confirm", response_class=HTMLResponse)
async def confirm_link(lang: LangPath, t: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    """The page behind the link in the code message: a button, so that link scanners confirm nothing."""
    return _render(
        "token_action.html",
        lang,
        heading_key="confirm_link_heading",
        text_key="confirm_link_text",
        action=f"/booking/{lang}/confirm",
        token=t,
        button_key="confirm_button",
        summary=None,
    )


@router.post("/{lang}/confirm", response_class=HTMLResponse)
async def confirm_link_post(lang: LangPath, request: Request, runtime: RuntimeDep) -> Response:
    """Confirm with the link token."""
    token = first(await read_form(request), "token")
    try:
        async with transaction(request.app.state.sessions) as session:
            confirmed = await booking.confirm_by_token(session, runtime.ctx, runtime.clock(), token)
    except AppointmentError as exc:
        return _render(
            "message.html", lang, exc.status, heading=_error_text(translator(lang), exc), text=None
        )
    runtime.kick()
    return await _confirmed_page(request, runtime, lang, confirmed.booking_id, confirmed.cancel_token)


@router.get("/{lang}/cancel", response_class=HTMLResponse)
async def cancel_page(
    lang: LangPath, session: SessionDep, t: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    """The cancellation page: what is cancelled, and a button."""
    tr = translator(lang)
    try:
        found = await booking.find_by_cancel_token(session, t)
    except NotFoundError:
        return _render("message.html", lang, 404, heading=tr("err_not_found"), text=None)
    office, slot, counter = await _context(session, found)
    summary = [
        (tr("label_when"), tr.when(slot.starts_at, office.timezone)),
        (tr("label_where"), f"{office.name}, {tr('slot_counter', counter=counter.name)}"),
        (tr("label_reference"), found.id.hex[:8].upper()),
    ]
    if found.status != "confirmed":
        return _render("message.html", lang, 409, heading=tr("err_booking_state"), text=None)
    return _render(
        "token_action.html",
        lang,
        heading_key="cancel_heading",
        text_key="cancel_question",
        action=f"/booking/{lang}/cancel",
        token=t,
        button_key="cancel_button",
        summary=summary,
    )


@router.post("/{lang}/cancel", response_class=HTMLResponse)
async def cancel(lang: LangPath, request: Request, runtime: RuntimeDep) -> Response:
    """Cancel with the token."""
    token = first(await read_form(request), "token")
    t = translator(lang)
    try:
        async with transaction(request.app.state.sessions) as session:
            await booking.cancel(session, runtime.ctx, runtime.clock(), token)
    except AppointmentError as exc:
        return _render("message.html", lang, exc.status, heading=_error_text(t, exc), text=None)
    runtime.kick()
    return _render("message.html", lang, heading=t("cancelled_heading"), text=t("cancelled_text"))


@router.get("/{lang}/{office_id}/request", response_class=HTMLResponse)
async def request_form(
    lang: LangPath,
    office_id: OfficePath,
    session: SessionDep,
    runtime: RuntimeDep,
    category: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The triage request form."""
    office = await _office(session, office_id)
    if category_of(category) is None:
        return RedirectResponse(f"/booking/{lang}/{office_id}", status_code=303)
    return await _details_page(session, runtime, lang, office, category, None, {}, {})


@router.post("/{lang}/{office_id}/request", response_class=HTMLResponse)
async def file_request(
    lang: LangPath, office_id: OfficePath, request: Request, runtime: RuntimeDep
) -> Response:
    """File the triage request; show the status link."""
    form = await read_form(request)
    category = first(form, "category")
    chosen = category_of(category)
    checked = check_details(form, chosen)
    sessions = request.app.state.sessions
    async with transaction(sessions) as session:
        office = await _office(session, office_id)
        if chosen is None or not checked.ok:
            return await _details_page(
                session, runtime, lang, office, category, None, checked.values, checked.errors, 422
            )
    t = translator(lang)
    try:
        _limit(request, runtime)
        body = TriageRequestCreate(
            language=lang,
            contact=Contact(channel="email", address=checked.values["email"]),
            case=case_payload(chosen, checked),
            document_number=checked.values["document_number"],
            altcha=first(form, "altcha") or None,
        )
        runtime.person_limiter.take(
            person_hash(body.document_number, runtime.ctx.person_key), runtime.monotonic()
        )
        async with transaction(sessions) as session:
            await pow.redeem(
                session,
                body.altcha,
                runtime.ctx.pow_key,
                utc_now(),
                timedelta(seconds=runtime.ctx.settings.pow_ttl_s),
            )
            filed = await triage.file_request(session, runtime.ctx, runtime.clock(), office_id, body)
    except AppointmentError as exc:
        async with transaction(sessions) as session:
            return await _failed_details(session, runtime, lang, office, category, None, checked.values, exc)
    runtime.kick()
    link = f"/booking/{lang}/request?t={filed.status_token}"
    return _render(
        "message.html", lang, heading=t("request_filed_heading"), text=t("request_filed_text"), link=link
    )


@router.get("/{lang}/request", response_class=HTMLResponse)
async def request_status(
    lang: LangPath, session: SessionDep, t: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    """A triage request's status."""
    tr = translator(lang)
    try:
        found = await triage.find_request(session, t)
    except NotFoundError:
        return _render("message.html", lang, 404, heading=tr("err_not_found"), text=None)
    public = await triage.request_public(session, found)
    office = await _office(session, found.office_id)
    summary = [
        (tr("label_status"), tr(f"status_{public.status}")),
        (tr("label_deadline"), public.deadline.strftime(tr("date_format"))),
    ]
    if public.offer is not None:
        summary.append((tr("label_when"), tr.when(public.offer.slot.starts_at, office.timezone)))
    return _render("message.html", lang, heading=tr("status_heading"), text=None, summary=summary)


@router.get("/{lang}/offer", response_class=HTMLResponse)
async def offer_page(
    lang: LangPath, session: SessionDep, runtime: RuntimeDep, t: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    """A triage offer: the slot, until when to answer, accept or decline."""
    tr = translator(lang)
    try:
        offered, _ = await triage.offer_of(session, t)
    except NotFoundError:
        return _render("message.html", lang, 404, heading=tr("err_not_found"), text=None)
    if (
        offered.status != "offered"
        or offered.hold_expires_at is None
        or offered.hold_expires_at <= runtime.clock()
    ):
        return _render("message.html", lang, 409, heading=tr("err_booking_state"), text=None)
    office, slot, counter = await _context(session, offered)
    summary = [
        (tr("label_when"), tr.when(slot.starts_at, office.timezone)),
        (tr("label_where"), f"{office.name}, {tr('slot_counter', counter=counter.name)}"),
    ]
    return _render(
        "offer.html", lang, token=t, summary=summary, until=tr.when(offered.hold_expires_at, office.timezone)
    )


@router.post("/{lang}/offer", response_class=HTMLResponse)
async def answer_offer(lang: LangPath, request: Request, runtime: RuntimeDep) -> Response:
    """Accept or decline the offer."""
    form = await read_form(request)
    token = first(form, "token")
    t = translator(lang)
    try:
        async with transaction(request.app.state.sessions) as session:
            if first(form, "answer") == "accept":
                accepted = await triage.accept_offer(session, runtime.ctx, runtime.clock(), token)
            else:
                await triage.decline_offer(session, runtime.ctx, runtime.clock(), token)
                accepted = None
    except AppointmentError as exc:
        return _render("message.html", lang, exc.status, heading=_error_text(t, exc), text=None)
    runtime.kick()
    if accepted is None:
        return _render("message.html", lang, heading=t("declined_heading"), text=None)
    return await _confirmed_page(request, runtime, lang, accepted.booking_id, accepted.cancel_token)


# Registered after the fixed paths above (/{lang}/cancel, …), which it would otherwise shadow.
@router.get("/{lang}/{office_id}", response_class=HTMLResponse)
async def start(
    lang: LangPath, office_id: OfficePath, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    """The office's start page: restricted-mode notice and the choice of reason."""
    office = await _office(session, office_id)
    settings = runtime.ctx.settings
    hints = {
        "permit_expiring": settings.permit_window_days,
        "job_at_risk": settings.job_window_days,
        "urgent_travel": settings.travel_window_days,
        "document_lost": 0,
    }
    return _render(
        "start.html",
        lang,
        office=office,
        categories=CATEGORIES,
        hint_days=hints,
        offer_hours=settings.offer_window_s // 3600,
    )


async def _office(session: AsyncSession, office_id: str) -> Office:
    return await booking.get_office(session, office_id)


async def _counter_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.scalars(select(Counter).where(Counter.id.in_(ids)))
    return {c.id: c.name for c in rows}


async def _context(session: AsyncSession, held: Booking) -> tuple[Office, Slot, Counter]:
    office = await session.get(Office, held.office_id)
    slot = await session.get(Slot, held.slot_id)
    assert office is not None
    assert slot is not None
    counter = await session.get(Counter, slot.counter_id)
    assert counter is not None
    return office, slot, counter
