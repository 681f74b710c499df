"""The REST API on SQLite, without a broker (the open call against a broker is in test_cloud_bridge)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from docbox_cloud.api.app import create_app
from docbox_cloud.settings import CloudSettings
from tests.cloud.conftest import API_TOKEN
from tests.cloud.factories import add_box

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def app(make_settings: Callable[..., CloudSettings]) -> AsyncIterator[FastAPI]:
    """The app after its start-up (migrations ran, engine open), shut down afterwards."""
    application = create_app(make_settings())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process, without credentials."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://docbox.test") as http:
        yield http


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/boxes"),
        ("POST", "/api/v1/boxes"),
        ("GET", "/api/v1/boxes/box-1"),
        ("GET", "/api/v1/boxes/box-1/compartments"),
        ("POST", "/api/v1/boxes/box-1/compartments/1/open"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {API_TOKEN}", API_TOKEN])
async def test_every_api_endpoint_requires_the_bearer_token(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = await client.request(method, path, headers=headers, json={"box_id": "x", "name": "y"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthorized"


async def test_health_needs_no_token_and_reports_mqtt_disabled(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "mqtt": "disabled"}


async def test_register_list_and_get_boxes(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/boxes", headers=AUTH, json={"box_id": "box-b", "name": "Back"})
    await client.post("/api/v1/boxes", headers=AUTH, json={"box_id": "box-a", "name": "Front"})
    again = await client.post("/api/v1/boxes", headers=AUTH, json={"box_id": "box-a", "name": "Twice"})
    listed = await client.get("/api/v1/boxes", headers=AUTH)
    one = await client.get("/api/v1/boxes/box-b", headers=AUTH)
    unknown = await client.get("/api/v1/boxes/box-z", headers=AUTH)

    assert created.status_code == 201
    assert created.json()["box_id"] == "box-b"
    assert created.json()["online"] is False
    assert again.status_code == 409
    assert again.json()["code"] == "box_exists"
    assert [(b["box_id"], b["name"]) for b in listed.json()] == [("box-a", "Front"), ("box-b", "Back")]
    assert one.json() == created.json()
    assert unknown.status_code == 404
    assert unknown.json() == {
        "detail": "box 'box-z' is not registered", "code": "unknown_box", "command_id": None, "reason": None
    }


async def test_list_compartments_with_their_state(app: FastAPI, client: httpx.AsyncClient) -> None:
    await add_box(app.state.sessions, "box-1", compartments=2)

    response = await client.get("/api/v1/boxes/box-1/compartments", headers=AUTH)
    unknown = await client.get("/api/v1/boxes/box-9/compartments", headers=AUTH)

    assert response.status_code == 200
    body = response.json()
    assert [(c["number"], c["size"], c["height_cm"], c["door"], c["locked"], c["alarms"]) for c in body] == [
        (1, "S", 20, "closed", True, []),
        (2, "S", 40, "closed", True, []),
    ]
    assert body[0]["updated_at"].endswith("Z")
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("POST", "/api/v1/boxes", {"box_id": "Not_Valid", "name": "x"}, ["body", "box_id"]),
        ("POST", "/api/v1/boxes", {"box_id": "box-2"}, ["body", "name"]),
        ("POST", "/api/v1/boxes", {"box_id": "box-2", "name": "x", "extra": 1}, ["body", "extra"]),
        ("GET", "/api/v1/boxes/Not_Valid", None, ["path", "box_id"]),
        ("GET", "/api/v1/boxes/Not_Valid/compartments", None, ["path", "box_id"]),
        ("POST", "/api/v1/boxes/box-1/compartments/0/open", None, ["path", "number"]),
        ("POST", "/api/v1/boxes/box-1/compartments/one/open", None, ["path", "number"]),
        ("POST", "/api/v1/boxes/-x/compartments/1/open", None, ["path", "box_id"]),
    ],
)
async def test_bad_input_is_422_with_pydantic_detail(
    client: httpx.AsyncClient, method: str, path: str, body: object, where: list[str]
) -> None:
    response = await client.request(method, path, headers=AUTH, json=body)

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [where]


async def test_open_without_mqtt_is_503(app: FastAPI, client: httpx.AsyncClient) -> None:
    await add_box(app.state.sessions, "box-1")

    response = await client.post("/api/v1/boxes/box-1/compartments/1/open", headers=AUTH)

    assert response.status_code == 503
    assert response.json()["code"] == "mqtt_unavailable"


async def test_openapi_documents_the_endpoints_and_bearer_auth(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    spec = response.json()
    assert set(spec["paths"]) >= {
        "/api/v1/boxes",
        "/api/v1/boxes/{box_id}",
        "/api/v1/boxes/{box_id}/compartments",
        "/api/v1/boxes/{box_id}/compartments/{number}/open",
        "/healthz",
    }
    open_op = spec["paths"]["/api/v1/boxes/{box_id}/compartments/{number}/open"]["post"]
    assert set(open_op["responses"]) >= {"200", "401", "404", "409", "422", "502", "503", "504"}
    assert open_op["description"]
    assert open_op["security"] == [{"HTTPBearer": []}]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
