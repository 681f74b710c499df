"""Kiosk requests (staff mode) handled by the service: answers, idempotency, retrieval (PostgreSQL).

The MQTT path of the same requests is covered end to end in tests/e2e/test_e2e_pickup_api.py.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from docbox_protocol.messages import (
    DoorClosed,
    DoorOpened,
    KioskRequest,
    LoadRequest,
    RetrieveRequest,
    UnlockAction,
)
from tests.cloud.factories import BOX
from tests.cloud.pickup.conftest import PickupWorld

pytestmark = pytest.mark.integration


def _request(world: PickupWorld, body: LoadRequest | RetrieveRequest) -> KioskRequest:
    return KioskRequest(id=uuid.uuid4(), box_id=BOX, at=world.clock(), body=body)


async def test_kiosk_load_is_answered_by_an_unlock_then_loaded_and_not_planned_twice(
    world: PickupWorld,
) -> None:
    await world.service.create_staff("anna", "Anna", "2468")
    await world.register()
    request = _request(world, LoadRequest(staff_id="anna", staff_pin="2468", document_code="DOC-1"))

    await world.service.handle_request(request)
    await world.service.handle_request(request)  # redelivered by the broker

    [unlock] = world.link.unlocks()
    assert isinstance(unlock.body, UnlockAction)
    assert unlock.body.request_id == request.id
    assert world.link.answers == []
    await world.feed(DoorOpened(compartment=unlock.body.compartment, command_id=unlock.id))
    await world.feed(DoorClosed(compartment=unlock.body.compartment))
    [answer] = world.link.answers
    assert (answer.request_id, answer.ok, answer.code) == (request.id, True, "loaded")
    assert answer.compartment == unlock.body.compartment


async def test_kiosk_failures_are_answered_with_codes(world: PickupWorld) -> None:
    await world.service.create_staff("anna", "Anna", "2468")
    await world.register("A")

    cases: list[tuple[LoadRequest | RetrieveRequest, str]] = [
        (LoadRequest(staff_id="anna", staff_pin="2468", document_code="NOPE"), "unknown_document"),
        (RetrieveRequest(staff_id="anna", staff_pin="2468"), "unknown_document"),
        (LoadRequest(staff_id="bob", staff_pin="2468", document_code="A"), "wrong_staff_pin"),
    ]
    cases += [(LoadRequest(staff_id="anna", staff_pin="0000", document_code="A"), "wrong_staff_pin")] * 4
    cases += [(LoadRequest(staff_id="anna", staff_pin="0000", document_code="A"), "locked_out")]
    cases += [(LoadRequest(staff_id="anna", staff_pin="2468", document_code="A"), "locked_out")]
    for body, _ in cases:
        await world.service.handle_request(_request(world, body))

    assert [(a.ok, a.code) for a in world.link.answers] == [(False, code) for _, code in cases]
    assert world.link.unlocks() == []


async def test_kiosk_retrieval_empties_expired_compartments_one_after_another(world: PickupWorld) -> None:
    await world.service.create_staff("anna", "Anna", "2468")
    for code in ("A", "B"):
        await world.register(code)
        await world.load(code)
    await world.service.run_job(world.clock() + timedelta(days=11))

    retrieved: list[int] = []
    retrieve = RetrieveRequest(staff_id="anna", staff_pin="2468")
    for _ in range(3):
        unlocks_before = len(world.link.unlocks())
        await world.service.handle_request(_request(world, retrieve))
        if len(world.link.unlocks()) > unlocks_before:
            unlock = world.link.unlocks()[-1]
            assert isinstance(unlock.body, UnlockAction)
            retrieved.append(unlock.body.compartment)
            await world.feed(DoorOpened(compartment=unlock.body.compartment, command_id=unlock.id))
            await world.feed(DoorClosed(compartment=unlock.body.compartment))

    assert len(set(retrieved)) == 2
    assert [a.code for a in world.link.answers] == ["retrieved", "retrieved", "unknown_document"]
    assert {d.status for d in await world.service.list()} == {"returned"}
    assert len(world.notifier.of_kind("pickup.returned")) == 2
