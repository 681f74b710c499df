"""The appointment REST API end to end (PostgreSQL): PoW, idempotency, 409s, 429, modes, staff, OpenAPI."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest

from docbox_cloud.appointments import pow
from tests.cloud.appointments.conftest import ApptApp
from tests.cloud.appointments.factories import NOW, OFFICE_ID, TODAY, code_in
from tests.cloud.conftest import API_TOKEN

STAFF = {"Authorization": f"Bearer {API_TOKEN}"}


async def _solved(client: httpx.AsyncClient) -> str:
    response = await client.get("/api/v1/appointments/challenge")
    assert response.status_code == 200
    return await asyncio.to_thread(pow.solve, pow.PowChallenge(**response.json()))


async def _free_slots(client: httpx.AsyncClient, kind: str = "emergency") -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/appointments/offices/{OFFICE_ID}/slots",
        params={"kind": kind, "from": (NOW + timedelta(hours=2)).isoformat()},
    )
    assert response.status_code == 200, response.text
    slots: list[dict[str, Any]] = response.json()
    return slots


def _body(slot_id: int, altcha: str, document: str = "C01X00T47") -> dict[str, Any]:
    return {
        "slot_id": slot_id,
        "language": "fr",
        "contact": {"channel": "email", "address": "anna@example.org"},
        "case": {
            "category": "urgent_travel",
            "travel_date": (TODAY + timedelta(days=3)).isoformat(),
            "evidence": ["passport", "travel_booking", "travel_reason"],
        },
        "document_number": document,
        "altcha": altcha,
    }


async def test_appt_api_reserve_confirm_cancel_with_idempotency(appt_app: ApptApp) -> None:
    client = appt_app.client
    slot = (await _free_slots(client))[0]
    assert slot["local_start"].endswith("+01:00")
    body = _body(slot["slot_id"], await _solved(client))
    url = f"/api/v1/appointments/offices/{OFFICE_ID}/reservations"

    first = await client.post(url, json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    replay = await client.post(url, json=body, headers={"Idempotency-Key": "k-1"})
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    reused = await client.post(url, json={**body, "language": "de"}, headers={"Idempotency-Key": "k-1"})
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"

    reservation = first.json()
    message = await appt_app.notifier.wait_for(lambda n: n.kind == "appointment.code")
    assert message.language == "fr"
    code = code_in(message.text)
    wrong = await client.post(
        f"/api/v1/appointments/reservations/{reservation['booking_id']}/confirm",
        json={"code": f"{(int(code) + 1) % 1_000_000:06d}"},
    )
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "wrong_code"
    confirmed = await client.post(
        f"/api/v1/appointments/reservations/{reservation['booking_id']}/confirm", json={"code": code}
    )
    assert confirmed.status_code == 200, confirmed.text
    cancel_token = confirmed.json()["cancel_token"]
    invitation = await appt_app.notifier.wait_for(lambda n: n.kind == "appointment.confirmation")
    assert invitation.attachments[0].filename == "invite.ics"

    looked_up = await client.post("/api/v1/appointments/bookings/lookup", json={"token": cancel_token})
    assert looked_up.json()["status"] == "confirmed"
    assert looked_up.json()["cancel_token"] is None
    cancelled = await client.post("/api/v1/appointments/cancellations", json={"token": cancel_token})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = await client.post("/api/v1/appointments/cancellations", json={"token": cancel_token})
    assert again.status_code == 409
    assert again.json()["code"] == "booking_state"
    await appt_app.notifier.wait_for(lambda n: n.kind == "appointment.cancellation")


async def test_appt_api_concurrent_clients_get_409_with_reason(appt_app: ApptApp) -> None:
    client = appt_app.client
    slots = [s["slot_id"] for s in (await _free_slots(client))[:2]]
    solutions = await asyncio.gather(*(_solved(client) for _ in range(40)))
    url = f"/api/v1/appointments/offices/{OFFICE_ID}/reservations"
    responses = await asyncio.gather(
        *(
            client.post(url, json=_body(slots[n % 2], solution, f"DOC{n:05d}"))
            for n, solution in enumerate(solutions)
        )
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 2, 409: 38}
    assert {r.json()["slot"]["slot_id"] for r in responses if r.status_code == 201} == set(slots)
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"slot_taken"}


async def test_appt_api_proof_of_work_is_required_and_single_use(appt_app: ApptApp) -> None:
    client = appt_app.client
    first, second = (s["slot_id"] for s in (await _free_slots(client))[:2])
    url = f"/api/v1/appointments/offices/{OFFICE_ID}/reservations"
    missing = await client.post(url, json={**_body(first, ""), "altcha": None})
    assert missing.status_code == 403
    assert missing.json()["code"] == "proof_of_work"
    solution = await _solved(client)
    assert (await client.post(url, json=_body(first, solution, "DOC00001"))).status_code == 201
    replayed = await client.post(url, json=_body(second, solution, "DOC00002"))
    assert replayed.status_code == 403
    assert "already used" in replayed.json()["detail"]


@pytest.mark.parametrize("appt_settings", [{"ip_burst": 3, "ip_per_minute": 1.0}])
async def test_appt_api_rate_limit_answers_429_with_retry_after(appt_app: ApptApp) -> None:
    statuses = [(await appt_app.client.get("/api/v1/appointments/challenge")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = await appt_app.client.get("/api/v1/appointments/challenge")
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("appt_settings", [{"ip_burst": 1000, "person_burst": 2, "person_per_hour": 1.0}])
async def test_appt_api_rate_limit_per_person(appt_app: ApptApp) -> None:
    client = appt_app.client
    url = f"/api/v1/appointments/offices/{OFFICE_ID}/reservations"
    slot = (await _free_slots(client))[0]["slot_id"]
    codes = []
    for _ in range(3):
        codes.append((await client.post(url, json={**_body(slot, "x"), "altcha": "x"})).json()["code"])
    assert codes == ["proof_of_work", "proof_of_work", "rate_limited"]


async def test_appt_api_restricted_and_triage_modes(appt_app: ApptApp) -> None:
    client = appt_app.client
    refused = await client.get(f"/api/v1/appointments/offices/{OFFICE_ID}/slots", params={"kind": "ordinary"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "restricted_mode"
    assert "emergency appointment instead" in refused.json()["detail"]

    switched = await client.patch(
        f"/api/v1/staff/appointments/offices/{OFFICE_ID}", json={"emergency_mode": "triage"}, headers=STAFF
    )
    assert switched.json()["emergency_mode"] == "triage"
    hidden = await client.get(f"/api/v1/appointments/offices/{OFFICE_ID}/slots", params={"kind": "emergency"})
    assert hidden.status_code == 403
    assert hidden.json()["code"] == "triage_mode"

    body = {k: v for k, v in _body(0, await _solved(client)).items() if k != "slot_id"}
    filed = await client.post(f"/api/v1/appointments/offices/{OFFICE_ID}/triage-requests", json=body)
    assert filed.status_code == 201, filed.text
    status_token = filed.json()["status_token"]
    round_ = await client.post(f"/api/v1/staff/appointments/offices/{OFFICE_ID}/triage/rounds", headers=STAFF)
    assert len(round_.json()["offers"]) == 1
    status = await client.post("/api/v1/appointments/triage-requests/status", json={"token": status_token})
    assert status.json()["status"] == "offered"
    assert status.json()["offer"]["slot"]["kind"] == "emergency"
    offer = await appt_app.notifier.wait_for(lambda n: n.kind == "appointment.offer")
    token = offer.text.split("offer?t=")[1].split()[0]
    accepted = await client.post("/api/v1/appointments/offers/accept", json={"token": token})
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "confirmed"


async def test_appt_api_staff_setup_day_list_and_auth(appt_app: ApptApp) -> None:
    client = appt_app.client
    assert (await client.get(f"/api/v1/staff/appointments/offices/{OFFICE_ID}/counters")).status_code == 401
    created = await client.post(
        "/api/v1/staff/appointments/offices",
        json={"office_id": "koeln", "name": "Köln", "state": "NW", "organizer_email": "t@koeln.example"},
        headers=STAFF,
    )
    assert created.status_code == 201, created.text
    service = {"service_id": "koeln-pickup", "name": "Abholung", "kind": "pickup", "duration_min": 7}
    assert (
        await client.post("/api/v1/staff/appointments/offices/koeln/services", json=service, headers=STAFF)
    ).status_code == 204
    counter = await client.post(
        "/api/v1/staff/appointments/offices/koeln/counters",
        json={"name": "P1", "service_id": "koeln-pickup"},
        headers=STAFF,
    )
    assert counter.status_code == 201
    hours = [{"weekday": 0, "opens": "09:00", "closes": "10:00"}]
    assert (
        await client.put("/api/v1/staff/appointments/offices/koeln/opening-hours", json=hours, headers=STAFF)
    ).status_code == 204
    generated = await client.post(
        "/api/v1/staff/appointments/offices/koeln/slots/generate",
        json={"first_day": "2026-03-02", "last_day": "2026-03-08"},
        headers=STAFF,
    )
    assert generated.json() == {"created": 8}  # one Monday, 60 min / 7 min = 8 slots
    day = await client.get(
        f"/api/v1/staff/appointments/offices/{OFFICE_ID}/day-list",
        params={"day": "2026-03-02"},
        headers=STAFF,
    )
    assert day.status_code == 200
    assert day.json() == []


async def test_appt_api_openapi_documents_the_endpoints(appt_app: ApptApp) -> None:
    spec = (await appt_app.client.get("/openapi.json")).json()
    reserve = spec["paths"]["/api/v1/appointments/offices/{office_id}/reservations"]["post"]
    assert reserve["summary"] == "Reserve (hold) a slot"
    assert {"201", "403", "409", "429"} <= set(reserve["responses"])
    assert "slot_taken" in reserve["responses"]["409"]["description"]
    assert any(p["name"] == "Idempotency-Key" for p in reserve["parameters"])
    assert "/api/v1/staff/appointments/offices/{office_id}/triage/rounds" in spec["paths"]
    assert "/api/v1/appointments/cancellations" in spec["paths"]
    assert not any(path.startswith("/booking") for path in spec["paths"])
