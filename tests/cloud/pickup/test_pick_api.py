"""The pickup REST API on PostgreSQL: documents, staff, grid, audit export and tamper detection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from docbox_cloud.api.app import create_app
from docbox_cloud.settings import CloudSettings
from tests.cloud.conftest import API_TOKEN
from tests.support.fixtures import PostgresDatabase

pytestmark = pytest.mark.integration

DOCUMENT = {
    "code": "EAT-0001",
    "case_number": "ab-2026/17",
    "kind": "residence_permit_card",
    "contact_channel": "sms",
    "contact": "+49 176 1234 5678",
    "date_of_birth": "1990-04-01",
    "language": "tr",
}


@pytest.fixture
async def api(
    make_settings: Callable[..., CloudSettings], postgres_database: PostgresDatabase
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url=postgres_database.url, pickup_data_key=Fernet.generate_key().decode()
    )
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
            yield client


async def test_register_list_and_never_return_personal_data(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/v1/documents", json=DOCUMENT)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["case_number"] == "AB-2026/17"
    assert body["status"] == "registered"
    assert "contact" not in body
    assert "date_of_birth" not in body
    assert "1234" not in created.text

    listed = await api.get("/api/v1/documents", params={"status": "registered"})
    assert [d["code"] for d in listed.json()] == ["EAT-0001"]
    again = await api.post("/api/v1/documents", json=DOCUMENT)
    assert (again.status_code, again.json()["code"]) == (409, "document_exists")
    bad = await api.post("/api/v1/documents", json={**DOCUMENT, "code": "EAT-2", "contact": "0176"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_input")
    unauthenticated = await api.get("/api/v1/documents", headers={"Authorization": "Bearer wrong"})
    assert unauthenticated.status_code == 401


async def test_collection_choice_and_loading_without_mqtt(api: httpx.AsyncClient) -> None:
    document = (await api.post("/api/v1/documents", json=DOCUMENT)).json()
    changed = await api.put(
        f"/api/v1/documents/{document['id']}/collection", json={"collection": "appointment"}
    )
    assert changed.json()["collection"] == "appointment"
    await api.post("/api/v1/boxes", json={"box_id": "box-a", "name": "A"})

    load = await api.post("/api/v1/boxes/box-a/loads", json={"document_code": "EAT-0001"})

    assert (load.status_code, load.json()["code"]) == (503, "mqtt_unavailable")
    grid = await api.get("/api/v1/boxes/box-a/grid")
    assert grid.json() == []
    staff = await api.post("/api/v1/staff", json={"staff_id": "s1", "name": "Loader", "pin": "4711"})
    assert staff.status_code == 201
    assert "pin" not in staff.text


async def test_audit_export_and_tamper_detection(
    api: httpx.AsyncClient, postgres_database: PostgresDatabase
) -> None:
    first = (await api.post("/api/v1/documents", json=DOCUMENT)).json()
    await api.post("/api/v1/documents", json={**DOCUMENT, "code": "EAT-0002"})
    await api.post(f"/api/v1/documents/{first['id']}/cancel")

    chain = (await api.get(f"/api/v1/documents/{first['id']}/audit")).json()
    assert [e["action"] for e in chain] == ["registered", "cancelled"]
    assert [e["seq"] for e in chain] == [1, 3]
    assert all(len(e["hash"]) == 64 for e in chain)
    assert (await api.get("/api/v1/audit/verify")).json() == {
        "ok": True,
        "checked": 3,
        "first_broken": None,
        "problem": None,
    }

    conn = await asyncpg.connect(postgres_database.dsn)
    try:
        await conn.execute("UPDATE pickup_audit SET actor = 'someone-else' WHERE seq = 2")
    finally:
        await conn.close()

    report = (await api.get("/api/v1/audit/verify")).json()
    assert report["ok"] is False
    assert report["first_broken"] == 2
    assert report["checked"] == 1
    assert "content" in report["problem"]
