"""The whole pickup story against real Mosquitto, PostgreSQL and Chromium.

A document is registered over REST → staff load it at the kiosk in the browser (the cloud
assigns a compartment and answers with a signed unlock) → the door is shut → the cloud
pushes a grant to the box and texts the applicant a PIN (captured by a local SMS gateway) →
the applicant signs in at the kiosk with phone + PIN + date of birth → the door opens, the
simulated person takes the document and shuts it → the cloud marks the document collected
and its audit chain verifies. The offline variant stops the broker before the applicant
arrives: the pickup happens offline and reaches the cloud once the broker is back.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from playwright.async_api import Page, expect
from pydantic import SecretStr

from docbox_protocol.codec import decode
from docbox_protocol.messages import Event, PickupCompleted
from tests.e2e.system import System, running_system
from tests.edge.mqtt_helpers import wait_for_flag
from tests.support.fixtures import PostgresDatabase
from tests.support.services import MosquittoServer

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

PHONE = "0171 2345678"
STAFF = ("s-mueller", "246810")


class SmsGateway:
    """A local SMS gateway: records what the cloud's HTTP SMS driver posts."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == "Bearer sms-token"
        self.messages.append(await request.json())
        self.arrived.set()
        return web.json_response({"ok": True})


@pytest.fixture
async def sms() -> AsyncIterator[SmsGateway]:
    gateway = SmsGateway()
    app = web.Application()
    app.router.add_post("/sms", gateway.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    gateway.url = f"http://127.0.0.1:{port}/sms"
    try:
        yield gateway
    finally:
        await runner.cleanup()


@pytest.fixture
async def system(
    mosquitto: MosquittoServer, postgres_database: PostgresDatabase, tmp_path: Path, sms: SmsGateway
) -> AsyncIterator[System]:
    async with running_system(
        database_url=postgres_database.url,
        mqtt_url=mosquitto.url,
        data_dir=tmp_path / "system",
        pickup_data_key=SecretStr(Fernet.generate_key().decode()),
        notify_sms_url=sms.url,
        notify_sms_token=SecretStr("sms-token"),
    ) as running:
        running.box.auto_person(open_after_s=0.2, shut_after_s=0.6)
        yield running


async def document_status(
    system: System, document_id: str, wanted: str, within: float = 20.0
) -> dict[str, Any]:
    """Wait until the cloud shows the document in status ``wanted`` (it lives in another task's DB)."""
    deadline = time.monotonic() + within
    while True:
        response = await system.api.get(f"/api/v1/documents/{document_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] == wanted:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"document is {body['status']}, not {wanted}, after {within} s")
        await asyncio.sleep(0.1)


async def register_and_load(system: System, sms: SmsGateway, page: Page) -> tuple[str, int, str]:
    """Register a document, load it at the kiosk as staff; return (document id, compartment, PIN)."""
    response = await system.api.post(
        "/api/v1/staff", json={"staff_id": STAFF[0], "name": "Müller", "pin": STAFF[1]}
    )
    assert response.status_code == 201, response.text
    response = await system.api.post(
        "/api/v1/documents",
        json={
            "code": "DOC-4711",
            "case_number": "AB-2026/4711",
            "kind": "residence_permit_card",
            "contact_channel": "sms",
            "contact": PHONE,
            "date_of_birth": "1990-12-31",
            "language": "en",
        },
    )
    assert response.status_code == 201, response.text
    document_id: str = response.json()["id"]
    agent = system.agent
    assert agent.kiosk is not None

    await page.goto(f"{agent.kiosk.url}/?lang=en")
    await page.click("#btn-staff")
    await page.fill("#staff-id", STAFF[0])
    await page.fill("#staff-pin", STAFF[1])
    await page.click("#form-staff [type=submit]")
    await page.keyboard.type("DOC-4711")  # the barcode scanner
    await page.keyboard.press("Enter")
    result = page.locator("#load-result")
    await expect(result).to_have_text(
        re.compile(r"^Put the document in compartment \d+ and shut the door\.$")
    )
    match = re.search(r"compartment (\d+)", await result.inner_text())
    assert match is not None
    compartment = int(match[1])
    await page.click("#screen-load [data-action=home]")

    # The door was shut by the simulated staff member: loaded, grant pushed, PIN texted.
    async with asyncio.timeout(20):
        await sms.arrived.wait()
    (message,) = sms.messages
    assert message["to"] == "+491712345678"
    pin_match = re.search(r"PIN: (\d{6})", message["text"])
    assert pin_match is not None, message["text"]
    await wait_for_flag(agent.outbox.appended, lambda: agent.grants.count() == 1, within=20)
    loaded = await document_status(system, document_id, "loaded")
    assert loaded["compartment"] == compartment
    return document_id, compartment, pin_match[1]


async def collect(page: Page, kiosk_url: str, compartment: int, pin: str) -> None:
    """The applicant at the kiosk: phone number, PIN on the keypad, date of birth."""
    await page.goto(f"{kiosk_url}/?lang=en")
    await page.click("#btn-collect")
    await page.fill("#login", "+49 171 2345678")
    await page.click("#pin")
    for digit in pin:
        await page.click(f".key[data-key='{digit}']")
    await page.fill("#dob", "31.12.1990")
    await page.click("#form-signin [type=submit]")
    await expect(page.locator("#h-opened")).to_have_text(f"Compartment {compartment} is open")
    await expect(page.locator("#h-done")).to_be_visible(timeout=15_000)


async def assert_audited(system: System, document_id: str) -> None:
    verify = (await system.api.get("/api/v1/audit/verify")).json()
    assert verify["ok"], verify
    assert verify["checked"] >= 3
    entries = (await system.api.get(f"/api/v1/documents/{document_id}/audit")).json()
    actions = [e.get("action") or e.get("kind") for e in entries]
    assert "loaded" in actions, entries
    assert "collected" in actions, entries


async def test_pickup_story_online(system: System, sms: SmsGateway, page: Page) -> None:
    document_id, compartment, pin = await register_and_load(system, sms, page)
    assert system.agent.kiosk is not None
    assert system.agent.kiosk.url is not None
    await collect(page, system.agent.kiosk.url, compartment, pin)
    collected = await document_status(system, document_id, "collected")
    assert collected["compartment"] in (compartment, None)
    await assert_audited(system, document_id)


async def test_pickup_story_offline(
    system: System, sms: SmsGateway, page: Page, mosquitto: MosquittoServer
) -> None:
    document_id, compartment, pin = await register_and_load(system, sms, page)
    agent = system.agent
    assert agent.kiosk is not None
    assert agent.kiosk.url is not None

    await asyncio.to_thread(mosquitto.stop)
    async with asyncio.timeout(10):
        await agent.link.disconnected.wait()
    await collect(page, agent.kiosk.url, compartment, pin)
    waiting = [decode(Event, p).data for _, p in agent.outbox.pending(1000)]
    completed = [d for d in waiting if isinstance(d, PickupCompleted)]
    assert len(completed) == 1
    assert completed[0].offline
    assert (await system.api.get(f"/api/v1/documents/{document_id}")).json()["status"] == "loaded"

    await asyncio.to_thread(mosquitto.start)
    await document_status(system, document_id, "collected", within=30)
    await assert_audited(system, document_id)
