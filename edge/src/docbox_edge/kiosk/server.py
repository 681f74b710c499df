"""The kiosk's HTTP server (aiohttp), bound to the loopback interface by default.

Routes:

- ``GET /?lang=xx``: the page in one of the eight languages;
- ``GET /static/kiosk.js|kiosk.css``: its script and style (nothing from elsewhere);
- ``GET /api/status``: ``{"online": bool}``;
- ``POST /api/signin``: ``{login, pin, dob}`` → a session naming the grants signed in for;
- ``POST /api/open``: ``{session, grant_id}`` → opens that compartment;
- ``POST /api/handover``: ``{session, grant_id}`` → waits (long poll) for the door to shut;
- ``POST /api/staff/load``: ``{staff_id, staff_pin, document_code}`` → a load request.

Only JSON POSTs from the page's own origin are accepted (a cross-site form cannot send
``application/json`` and no CORS preflight is ever answered). PINs are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docbox_edge.errors import EdgeError
from docbox_edge.kiosk.i18n import language
from docbox_edge.kiosk.page import render_page
from docbox_edge.pickup import PickupDesk
from docbox_edge.staff import LoadResult, StaffLoading
from docbox_protocol.messages import SignInFailReason

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

_STATIC = {"kiosk.js": "text/javascript", "kiosk.css": "text/css"}
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self';"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_DOB_DOTTED = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")
_DOB_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DOB_COMPACT = re.compile(r"^(\d{2})(\d{2})(\d{4})$")


class _SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login: str = Field(min_length=1, max_length=64)
    pin: str = Field(pattern=r"^[0-9]{1,12}$")
    dob: str = Field(min_length=6, max_length=10)


class _GrantRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session: str = Field(min_length=1, max_length=64)
    grant_id: uuid.UUID


class _Load(BaseModel):
    model_config = ConfigDict(extra="forbid")
    staff_id: str = Field(min_length=1, max_length=64)
    staff_pin: str = Field(pattern=r"^[0-9]{4,12}$")
    document_code: str = Field(min_length=1, max_length=64)


class _Retrieve(BaseModel):
    model_config = ConfigDict(extra="forbid")
    staff_id: str = Field(min_length=1, max_length=64)
    staff_pin: str = Field(pattern=r"^[0-9]{4,12}$")
    document_code: str | None = Field(default=None, min_length=1, max_length=64)


@dataclass(eq=False)
class _Session:
    grants: set[uuid.UUID]
    expires: float  # monotonic
    compartments: dict[uuid.UUID, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KioskOptions:
    """Where and how the kiosk is served.

    Attributes:
        host: Interface to bind (loopback by default: the touchscreen's browser runs on the Pi).
        port: TCP port; 0 picks a free one (tests).
        idle_s: Inactivity after which the page returns to the start screen.
        session_s: Lifetime of a sign-in session.
        handover_poll_s: How long one handover long-poll waits.
    """

    host: str = "127.0.0.1"
    port: int = 8470
    idle_s: float = 90.0
    session_s: float = 600.0
    handover_poll_s: float = 20.0


class KioskServer:
    """Serves the kiosk page and its JSON API."""

    def __init__(
        self,
        options: KioskOptions,
        *,
        desk: PickupDesk,
        staff: StaffLoading,
        is_online: Callable[[], bool],
    ) -> None:
        """Wire the server (nothing is bound until :meth:`start`)."""
        self._options = options
        self._desk = desk
        self._staff = staff
        self._is_online = is_online
        self._sessions: dict[str, _Session] = {}
        self._runner: web.AppRunner | None = None
        self._static = {
            name: resources.files(__package__).joinpath("static", name).read_bytes() for name in _STATIC
        }
        #: ``http://host:port`` once started.
        self.url: str | None = None

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self._guard], client_max_size=16 * 1024)
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._static_file)
        app.router.add_get("/api/status", self._status)
        app.router.add_post("/api/signin", self._signin)
        app.router.add_post("/api/open", self._open)
        app.router.add_post("/api/handover", self._handover)
        app.router.add_post("/api/staff/load", self._load)
        app.router.add_post("/api/staff/retrieve", self._retrieve)
        return app

    async def start(self) -> str:
        """Bind and serve; return the URL.

        Raises:
            EdgeError: the address cannot be bound.
        """
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._options.host, self._options.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise EdgeError(
                f"kiosk cannot listen on {self._options.host}:{self._options.port}: {exc}"
            ) from exc
        self._runner = runner
        port = self._options.port
        server = site._server  # aiohttp exposes the bound sockets only here
        if server is not None and hasattr(server, "sockets") and server.sockets:
            port = server.sockets[0].getsockname()[1]
        host = self._options.host
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        log.info("kiosk  %s", self.url)
        return self.url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def run(self, started: Callable[[str], None] | None = None, retry_s: float = 10.0) -> None:
        """Serve until cancelled; if the address cannot be bound, retry every ``retry_s``.

        A kiosk that cannot listen must not stop the agent: remote unlocks and the outbox
        keep working while the address is busy.
        """
        while True:
            try:
                url = await self.start()
                break
            except EdgeError as exc:
                log.warning("%s; retrying in %g s", exc, retry_s)
                await asyncio.sleep(retry_s)
        try:
            if started is not None:
                started(url)
            await asyncio.Future()
        finally:
            await self.stop()

    # ------------------------------------------------------------------ middleware

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method == "POST":
            if request.content_type != "application/json":
                return _json({"error": "content type must be application/json"}, status=415)
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"{request.scheme}://{request.host}":
                return _json({"error": "cross-origin request refused"}, status=403)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(_SECURITY_HEADERS)
            raise
        except _Invalid as exc:
            response = _json({"error": "invalid request", "detail": exc.detail}, status=400)
        except EdgeError:
            log.exception("kiosk request %s failed", request.path)
            response = _json({"error": "internal"}, status=500)
        response.headers.update(_SECURITY_HEADERS)
        return response

    # ------------------------------------------------------------------ pages

    async def _page(self, request: web.Request) -> web.StreamResponse:
        lang = language(request.query.get("lang"))
        html = render_page(lang, online=self._is_online(), idle_s=self._options.idle_s)
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def _static_file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=self._static[name], content_type=_STATIC[name], charset="utf-8")

    async def _status(self, _request: web.Request) -> web.StreamResponse:
        return _json({"online": self._is_online()})

    # ------------------------------------------------------------------ applicant

    async def _signin(self, request: web.Request) -> web.StreamResponse:
        body = await _parse(request, _SignIn)
        born = parse_date_of_birth(body.dob)
        if born is None:
            return _json({"error": "date of birth must be DD.MM.YYYY"}, status=400)
        result = await self._desk.sign_in(body.login, body.pin, born)
        if not result.ok:
            return _json(
                {
                    "ok": False,
                    "reason": _reason(result.reason, result.box_paused),
                    "retry_after_s": result.retry_after_s,
                }
            )
        self._prune_sessions()
        token = secrets.token_urlsafe(24)
        self._sessions[token] = _Session(
            grants={g.grant_id for g in result.grants},
            expires=time.monotonic() + self._options.session_s,
            compartments={g.grant_id: g.compartment for g in result.grants},
        )
        documents = [{"grant_id": str(g.grant_id), "compartment": g.compartment} for g in result.grants]
        return _json(
            {"ok": True, "session": token, "documents": documents, "language": result.grants[0].language}
        )

    async def _open(self, request: web.Request) -> web.StreamResponse:
        ref = await _parse(request, _GrantRef)
        if not self._allowed(ref):
            return _json({"error": "not signed in for this document"}, status=403)
        result = await self._desk.open(ref.grant_id)
        return _json(
            {
                "outcome": result.outcome.value,
                "compartment": result.compartment,
                "refusal": result.refusal.value if result.refusal is not None else None,
            }
        )

    async def _handover(self, request: web.Request) -> web.StreamResponse:
        ref = await _parse(request, _GrantRef)
        if not self._allowed(ref):
            return _json({"error": "not signed in for this document"}, status=403)
        done = await self._desk.wait_handover(ref.grant_id, self._options.handover_poll_s)
        return _json({"done": done})

    def _allowed(self, ref: _GrantRef) -> bool:
        session = self._sessions.get(ref.session)
        if session is None or session.expires < time.monotonic():
            return False
        return ref.grant_id in session.grants

    def _prune_sessions(self) -> None:
        now = time.monotonic()
        for token in [t for t, s in self._sessions.items() if s.expires < now]:
            del self._sessions[token]

    # ------------------------------------------------------------------ staff

    async def _load(self, request: web.Request) -> web.StreamResponse:
        body = await _parse(request, _Load)
        result = await self._staff.load(body.staff_id, body.staff_pin, body.document_code)
        log.info("staff load of a document by %s: %s", body.staff_id, result.outcome.value)
        return _staff_result(result)

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        body = await _parse(request, _Retrieve)
        result = await self._staff.retrieve(body.staff_id, body.staff_pin, body.document_code)
        log.info("staff retrieval of a document by %s: %s", body.staff_id, result.outcome.value)
        return _staff_result(result)


def _staff_result(result: LoadResult) -> web.Response:
    return _json(
        {
            "outcome": result.outcome.value,
            "compartment": result.compartment,
            "code": result.code,
            "message": result.message,
        }
    )


def parse_date_of_birth(text: str) -> date | None:
    """Read ``DD.MM.YYYY`` (also with ``/`` or ``-``), ``DDMMYYYY`` or ``YYYY-MM-DD``; None if invalid."""
    text = text.strip()
    match = _DOB_ISO.fullmatch(text)
    try:
        if match:
            return date(int(match[1]), int(match[2]), int(match[3]))
        match = _DOB_DOTTED.fullmatch(text) or _DOB_COMPACT.fullmatch(text)
        if match:
            return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        return None
    return None


def _reason(reason: SignInFailReason | None, box_paused: bool) -> str:
    # Unknown login and wrong secret look the same on screen: the kiosk must not tell
    # which phone numbers have a document waiting.
    if reason is SignInFailReason.LOCKED_OUT:
        return "locked_box" if box_paused else "locked_login"
    if reason is SignInFailReason.NOT_VALID_NOW:
        return "not_valid_now"
    return "mismatch"


class _Invalid(Exception):
    """A request body that does not fit its model."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def _parse(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        # Only field names and error kinds: the input may contain a PIN.
        raise _Invalid(
            ", ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors())
        ) from None


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(payload, status=status)
