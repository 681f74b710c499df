"""The alarms REST API: list with filters, get, resolve; and the settings that drive alarms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.alarms import store
from docbox_cloud.alarms.models import AlarmType
from docbox_cloud.alarms.service import AlarmPolicy, recipients_from_settings
from docbox_cloud.api.app import create_app
from docbox_cloud.db import transaction
from docbox_cloud.settings import CloudSettings
from tests.cloud.conftest import API_TOKEN
from tests.cloud.factories import BOX, T0, add_box

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def app(make_settings: Callable[..., CloudSettings]) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://docbox.test", headers=AUTH
    ) as http:
        yield http


@pytest.fixture
async def alarm_ids(app: FastAPI) -> dict[str, int]:
    """Three alarms of box-1: jammed (cleared), compartment_defective and box_offline (active)."""
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    await add_box(sessions)
    ids = {}
    async with transaction(sessions) as session:
        for kind, compartment in (
            (AlarmType.JAMMED, 2),
            (AlarmType.COMPARTMENT_DEFECTIVE, 2),
            (AlarmType.BOX_OFFLINE, None),
        ):
            alarm = await store.raise_alarm(session, BOX, kind, at=T0, compartment=compartment, detail="x")
            assert alarm is not None
            ids[kind.value] = alarm.id
        await store.clear_alarm(session, BOX, AlarmType.JAMMED, at=T0, compartment=2)
    return ids


async def test_list_filters_and_orders_newest_first(
    client: httpx.AsyncClient, alarm_ids: dict[str, int]
) -> None:
    everything = (await client.get("/api/v1/alarms")).json()
    assert [a["kind"] for a in everything] == ["box_offline", "compartment_defective", "jammed"]
    assert everything[0] == {
        "id": alarm_ids["box_offline"],
        "box_id": BOX,
        "compartment": None,
        "kind": "box_offline",
        "detail": "x",
        "active": True,
        "raised_at": "2026-01-01T12:00:00Z",
        "cleared_at": None,
    }
    active = (await client.get("/api/v1/alarms", params={"active": "true"})).json()
    assert [a["kind"] for a in active] == ["box_offline", "compartment_defective"]
    cleared = (await client.get("/api/v1/alarms", params={"active": "false"})).json()
    assert [(a["kind"], a["cleared_at"]) for a in cleared] == [("jammed", "2026-01-01T12:00:00Z")]
    by_kind = (
        await client.get("/api/v1/alarms", params=[("kind", "jammed"), ("kind", "box_offline")])
    ).json()
    assert len(by_kind) == 2
    page = (
        await client.get("/api/v1/alarms", params={"limit": 1, "before_id": alarm_ids["box_offline"]})
    ).json()
    assert [a["kind"] for a in page] == ["compartment_defective"]
    assert (await client.get("/api/v1/alarms", params={"box_id": "other"})).json() == []
    assert (await client.get("/api/v1/alarms", params={"kind": "nonsense"})).status_code == 422


async def test_get_and_resolve(client: httpx.AsyncClient, alarm_ids: dict[str, int]) -> None:
    defective = alarm_ids["compartment_defective"]
    assert (await client.get(f"/api/v1/alarms/{defective}")).json()["active"] is True

    refused = await client.post(f"/api/v1/alarms/{alarm_ids['box_offline']}/resolve")
    assert refused.status_code == 409
    assert refused.json()["code"] == "alarm_not_resolvable"

    resolved = await client.post(f"/api/v1/alarms/{defective}/resolve")
    assert resolved.status_code == 200
    assert resolved.json()["active"] is False
    again = await client.post(f"/api/v1/alarms/{defective}/resolve")
    assert again.status_code == 409

    missing = await client.get("/api/v1/alarms/99999")
    assert missing.status_code == 404
    assert missing.json()["code"] == "unknown_alarm"


async def test_alarms_need_the_token(app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://docbox.test"
    ) as http:
        assert (await http.get("/api/v1/alarms")).status_code == 401
        assert (await http.post("/api/v1/alarms/1/resolve")).status_code == 401


def test_alarm_and_telemetry_settings(
    make_settings: Callable[..., CloudSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCBOX_ALARM_EMAIL_TO", "facilities@example.org, night@example.org")
    monkeypatch.setenv("DOCBOX_ALARM_WEBHOOK_URLS", "https://hooks.example.org/a")
    monkeypatch.setenv("DOCBOX_ALARM_OFFLINE_GRACE_S", "90")
    settings = CloudSettings(_env_file=None, api_token="t")
    assert recipients_from_settings(settings) == [
        ("email", "facilities@example.org"),
        ("email", "night@example.org"),
        ("webhook", "https://hooks.example.org/a"),
    ]
    assert AlarmPolicy.from_settings(settings).offline_grace_s == 90
    assert settings.influx_url is None  # telemetry off unless configured

    with pytest.raises(ValidationError, match="http:// or https://"):
        make_settings(influx_url="influx:8086")
    with pytest.raises(ValidationError, match="influx_username/influx_password"):
        make_settings(influx_url="http://user:secret@influx:8086")
    secret = make_settings(influx_url="http://influx:8086", influx_password="s3cret")
    assert "s3cret" not in repr(secret)
