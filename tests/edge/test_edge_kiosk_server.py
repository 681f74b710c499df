"""The kiosk's HTTP API and pages, against a real server on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from docbox_edge.kiosk.i18n import LANGUAGES
from docbox_edge.kiosk.server import KioskOptions, KioskServer, parse_date_of_birth
from docbox_edge.staff import StaffLoading
from docbox_protocol.messages import KioskRequest
from tests.edge.conftest import BOX_ID, Keys, Rig
from tests.edge.grant_helpers import ALICE, grants_action, make_grant
from tests.edge.kiosk_harness import DeskHarness, desk_harness


class Kiosk:
    def __init__(self, harness: DeskHarness, server: KioskServer, http: aiohttp.ClientSession) -> None:
        self.h = harness
        self.server = server
        self.http = http
        self.requests: list[KioskRequest] = []

    async def post(self, path: str, body: dict[str, Any], **kwargs: Any) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.server.url}{path}", json=body, **kwargs) as response:
            return response.status, await response.json()


@pytest.fixture
async def kiosk(rig: Rig, keys: Keys, data_dir: Path) -> AsyncIterator[Kiosk]:
    async with desk_harness(rig, keys, data_dir) as h:
        sent: list[KioskRequest] = []

        async def publish(request: KioskRequest) -> None:
            sent.append(request)

        staff = StaffLoading(BOX_ID, publish, lambda: h.online, answer_timeout_s=0.2)
        server = KioskServer(KioskOptions(port=0), desk=h.desk, staff=staff, is_online=lambda: h.online)
        await server.start()
        try:
            async with aiohttp.ClientSession() as http:
                k = Kiosk(h, server, http)
                k.requests = sent
                yield k
        finally:
            await server.stop()


async def test_the_page_is_served_in_every_language_with_lang_and_dir(kiosk: Kiosk) -> None:
    for lang in LANGUAGES:
        async with kiosk.http.get(f"{kiosk.server.url}/?lang={lang.code}") as response:
            assert response.status == 200
            html = await response.text()
            assert f'<html lang="{lang.code}" dir="{"rtl" if lang.rtl else "ltr"}">' in html
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    async with kiosk.http.get(f"{kiosk.server.url}/?lang=xx") as response:
        assert '<html lang="de" dir="ltr">' in await response.text()


async def test_only_the_kiosk_files_are_served_as_static(kiosk: Kiosk) -> None:
    async with kiosk.http.get(f"{kiosk.server.url}/static/kiosk.js") as response:
        assert response.status == 200
        assert response.content_type == "text/javascript"
    for path in ("/static/../server.py", "/static/i18n.py", "/static/%2e%2e/page.py"):
        async with kiosk.http.get(f"{kiosk.server.url}{path}") as response:
            assert response.status == 404, path


async def test_sign_in_open_and_handover_over_http(kiosk: Kiosk, rig: Rig) -> None:
    grant = make_grant(2)
    kiosk.h.grants.apply(grants_action(grant))
    rig.sim.auto_person(open_after_s=0.01, shut_after_s=0.05, compartments=[2])
    status, body = await kiosk.post(
        "/api/signin", {"login": ALICE.login, "pin": ALICE.pin, "dob": "31.12.1990"}
    )
    assert status == 200
    assert body["ok"]
    assert body["documents"] == [{"grant_id": str(grant.grant_id), "compartment": 2}]
    ref = {"session": body["session"], "grant_id": str(grant.grant_id)}
    status, opened = await kiosk.post("/api/open", ref)
    assert (status, opened["outcome"], opened["compartment"]) == (200, "opened", 2)
    status, handover = await kiosk.post("/api/handover", ref)
    assert (status, handover) == (200, {"done": True})


async def test_wrong_secret_and_unknown_login_look_the_same(kiosk: Kiosk) -> None:
    kiosk.h.grants.apply(grants_action(make_grant(1)))
    _, wrong = await kiosk.post("/api/signin", {"login": ALICE.login, "pin": "9999", "dob": "31.12.1990"})
    _, unknown = await kiosk.post("/api/signin", {"login": "+4930999999", "pin": "9999", "dob": "31.12.1990"})
    assert wrong == unknown == {"ok": False, "reason": "mismatch", "retry_after_s": None}


async def test_opening_needs_a_session_for_that_grant(kiosk: Kiosk, rig: Rig) -> None:
    mine, theirs = make_grant(1), make_grant(3)
    kiosk.h.grants.apply(grants_action(mine))
    kiosk.h.grants.apply(grants_action(theirs))
    _, body = await kiosk.post("/api/signin", {"login": ALICE.login, "pin": ALICE.pin, "dob": "1990-12-31"})
    status, _ = await kiosk.post("/api/open", {"session": "made-up", "grant_id": str(mine.grant_id)})
    assert status == 403
    # Both grants belong to the same login here; a session only covers what it signed in for.
    assert {d["grant_id"] for d in body["documents"]} == {str(mine.grant_id), str(theirs.grant_id)}
    status, _ = await kiosk.post(
        "/api/open", {"session": body["session"], "grant_id": "00000000-0000-4000-8000-000000000000"}
    )
    assert status == 403
    assert not rig.any_coil_energised()


async def test_malformed_and_cross_origin_requests_are_refused(kiosk: Kiosk) -> None:
    status, body = await kiosk.post("/api/signin", {"login": "x", "pin": "12ab", "dob": "31.12.1990"})
    assert status == 400
    assert "pin" in body["detail"]
    assert "12ab" not in body["detail"]
    status, _ = await kiosk.post("/api/signin", {"login": "x", "pin": "1234", "dob": "31.02.1990"})
    assert status == 400
    status, _ = await kiosk.post(
        "/api/signin",
        {"login": "x", "pin": "1234", "dob": "01.01.1990"},
        headers={"Origin": "http://evil.example"},
    )
    assert status == 403
    async with kiosk.http.post(f"{kiosk.server.url}/api/signin", data="login=x") as response:
        assert response.status == 415


async def test_staff_loading_offline_says_it_needs_a_connection(kiosk: Kiosk) -> None:
    kiosk.h.online = False
    body = {"staff_id": "s1", "staff_pin": "123456", "document_code": "DOC-1"}
    status, answer = await kiosk.post("/api/staff/load", body)
    assert (status, answer["outcome"]) == (200, "needs_connection")
    assert kiosk.requests == []
    kiosk.h.online = True
    status, answer = await kiosk.post("/api/staff/load", body)
    assert (status, answer["outcome"]) == (200, "no_answer")
    (request,) = kiosk.requests
    assert request.body.document_code == "DOC-1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("31.12.1990", (1990, 12, 31)),
        ("1.2.1985", (1985, 2, 1)),
        ("31121990", (1990, 12, 31)),
        ("1990-12-31", (1990, 12, 31)),
        ("31/12/1990", (1990, 12, 31)),
        ("32.12.1990", None),
        ("12.1990", None),
    ],
)
def test_dates_of_birth_are_read_in_the_usual_spellings(
    text: str, expected: tuple[int, int, int] | None
) -> None:
    parsed = parse_date_of_birth(text)
    assert (None if parsed is None else (parsed.year, parsed.month, parsed.day)) == expected


async def _no_cloud(_request: KioskRequest) -> None:
    raise AssertionError("no request expected")


async def test_a_busy_port_is_retried_and_does_not_end_the_kiosk_task(kiosk: Kiosk) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    server = KioskServer(
        KioskOptions(port=port),
        desk=kiosk.h.desk,
        staff=StaffLoading(BOX_ID, _no_cloud, lambda: False),
        is_online=lambda: True,
    )
    refused = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "cannot listen" in record.getMessage():
                refused.set()

    watch = Watch(logging.WARNING)
    logging.getLogger("docbox_edge.kiosk.server").addHandler(watch)
    ready = asyncio.Event()
    task = asyncio.create_task(server.run(lambda _url: ready.set(), retry_s=0.05))
    try:
        async with asyncio.timeout(5):
            await refused.wait()
        assert not task.done()
        busy.close()
        async with asyncio.timeout(5):
            await ready.wait()
        assert server.url == f"http://127.0.0.1:{port}"
    finally:
        logging.getLogger("docbox_edge.kiosk.server").removeHandler(watch)
        busy.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
