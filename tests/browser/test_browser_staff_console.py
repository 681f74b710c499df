"""The staff console in headless Chromium: sign-in, document register, live box grid, accessibility."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography.fernet import Fernet
from playwright.async_api import Page, expect

from docbox_cloud import ingest
from docbox_cloud.api.app import create_app
from docbox_cloud.api.server import EmbeddedServer
from docbox_cloud.db import create_engine, session_factory, transaction
from docbox_cloud.settings import CloudSettings
from tests.browser.conftest import axe_violations, describe_violations
from tests.cloud.conftest import API_TOKEN
from tests.cloud.factories import make_snapshot
from tests.support.fixtures import PostgresDatabase

pytestmark = [pytest.mark.browser, pytest.mark.integration]

BOX = "box-1"


@dataclass
class Console:
    url: str


@pytest.fixture
async def console(postgres_database: PostgresDatabase) -> AsyncIterator[Console]:
    """The cloud (no MQTT) on a free port, with one box of six compartments."""
    settings = CloudSettings(
        _env_file=None,
        database_url=postgres_database.url,
        api_token=API_TOKEN,
        pickup_data_key=Fernet.generate_key().decode(),
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = EmbeddedServer(create_app(settings))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(20):
            await server.ready.wait()
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as api:
            assert (
                await api.post("/api/v1/boxes", json={"box_id": BOX, "name": "Town hall"})
            ).status_code == 201
        engine = create_engine(postgres_database.url)
        async with transaction(session_factory(engine)) as session:
            await ingest.apply_snapshot(session, make_snapshot(0, 6, box_id=BOX))
        await engine.dispose()
        yield Console(url)
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _sign_in(page: Page, console: Console) -> None:
    await page.goto(console.url + "/staff/")
    await expect(page).to_have_url(console.url + "/staff/login")
    await page.get_by_label("Access token").fill("wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong token")
    await page.get_by_label("Access token").fill(API_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Document register")).to_be_visible()


async def test_sign_in_register_a_document_and_mark_a_compartment(
    page: Page, console: Console, axe_source: str
) -> None:
    await _sign_in(page, console)
    [cookie] = await page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert API_TOKEN not in cookie["value"]

    await page.get_by_label("Barcode").fill("EAT-77")
    await page.get_by_label("Case number").fill("AB-77")
    await page.get_by_label("Notify by").select_option("email")
    await page.get_by_label("Phone or e-mail").fill("applicant@example.org")
    await page.get_by_label("Date of birth").fill("1991-03-04")
    await page.get_by_label("Language").select_option("ar")
    await page.get_by_role("button", name="Register").click()
    row = page.locator("#documents tr[data-code='EAT-77']")
    await expect(row.locator(".status")).to_have_text("registered")
    assert "applicant@example.org" not in await page.content()
    violations = await axe_violations(page, axe_source)
    assert violations == [], describe_violations(violations)

    await page.get_by_role("link", name=f"Box {BOX}").click()
    cell = page.locator("#grid [data-number='2']")
    await expect(cell).to_have_attribute("data-state", "free")
    await page.get_by_role("button", name="Defective compartment 2").click()
    await expect(cell).to_have_attribute("data-state", "defective")
    await expect(page.get_by_role("status")).to_have_text("Defective 2: done")
    violations = await axe_violations(page, axe_source)
    assert violations == [], describe_violations(violations)
    await page.get_by_role("button", name="Repaired compartment 2").click()
    await expect(cell).to_have_attribute("data-state", "free")


async def test_the_grid_endpoint_needs_the_staff_session(page: Page, console: Console) -> None:
    response = await page.request.get(console.url + f"/staff/api/boxes/{BOX}/grid")
    assert response.status == 401
    await _sign_in(page, console)
    grid = await page.request.get(console.url + f"/staff/api/boxes/{BOX}/grid")
    assert [c["state"] for c in await grid.json()] == ["free"] * 6
