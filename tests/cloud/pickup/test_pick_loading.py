"""Registering and loading documents: assignment, the grant and the PIN notification (PostgreSQL)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from docbox_cloud.db import transaction
from docbox_cloud.errors import CommandRejectedError
from docbox_cloud.ingest import IngestResult
from docbox_cloud.pickup.errors import (
    DocumentExistsError,
    DocumentStateError,
    InvalidInputError,
    NoFreeCompartmentError,
    UnknownDocumentError,
)
from docbox_cloud.pickup.models import AuditEntry, PickupDocument, PickupGrantRow
from docbox_protocol.grants import login_hash, verify_secret
from docbox_protocol.messages import CommandOutcome, CommandResult, DoorClosed, DoorOpened, LockPulsed
from tests.cloud.factories import BOX
from tests.cloud.pickup.conftest import DOB, PHONE, PickupWorld

pytestmark = pytest.mark.integration


async def test_register_stores_personal_data_only_encrypted(world: PickupWorld) -> None:
    document_id = await world.register()

    async with transaction(world.sessions) as session:
        row = await session.get(PickupDocument, document_id)
        audit_rows = (await session.scalars(select(AuditEntry))).all()
    assert row is not None
    assert row.status == "registered"
    assert row.size == "S"
    assert row.contact_enc is not None
    assert PHONE.encode() not in row.contact_enc
    assert b"1990" not in (row.dob_enc or b"")
    assert [a.action for a in audit_rows] == ["registered"]
    assert PHONE not in str(audit_rows[0].detail)


async def test_register_rejects_duplicates_and_bad_phone_numbers(world: PickupWorld) -> None:
    await world.register("DOC-1")
    with pytest.raises(DocumentExistsError):
        await world.register("DOC-1")
    with pytest.raises(InvalidInputError, match="8 to 15 digits"):
        await world.register("DOC-2", contact="0176")


async def test_load_opens_a_fitting_compartment_and_notifies_only_after_the_door_is_shut(
    world: PickupWorld,
) -> None:
    await world.register()
    result = await world.service.load_and_wait(BOX, "DOC-1", staff_id="s1")

    # Card-sized, not low: the smallest fitting compartment outside the accessible band.
    assert result.compartment in (1, 2)
    assert result.compartment == 1
    unlock = world.link.unlocks()[0]
    assert unlock.id == result.command_id
    assert unlock.body.request_id == result.load_id  # type: ignore[union-attr]
    assert world.notifier.sent == []
    assert (await world.service.get(result.document_id)).status == "loading"

    await world.feed(LockPulsed(compartment=1, command_id=result.command_id, pulse_ms=200))
    await world.feed(DoorOpened(compartment=1, command_id=result.command_id))
    assert world.notifier.sent == []
    await world.feed(DoorClosed(compartment=1))

    document = await world.service.get(result.document_id)
    assert document.status == "loaded"
    ready = world.notifier.of_kind("pickup.ready")
    assert len(ready) == 1
    assert ready[0].to == PHONE
    assert ready[0].language == "en"
    pin = re.search(r"PIN: (\d{6})\.", ready[0].text)
    assert pin is not None, ready[0].text

    [push] = world.link.grants()
    assert not push.replace_all
    [grant] = push.grants
    assert grant.compartment == 1
    assert grant.language == "en"
    assert grant.login_hash == login_hash(push.lookup_salt, "0176-12345678")
    assert verify_secret(grant.secret_salt, grant.secret_hash, pin.group(1), DOB)
    assert not verify_secret(grant.secret_salt, grant.secret_hash, pin.group(1), date(1990, 4, 2))
    assert grant.valid_until == document.hold_until


async def test_a_redelivered_door_closed_event_notifies_once(world: PickupWorld) -> None:
    await world.register()
    result = await world.service.load_and_wait(BOX, "DOC-1")
    await world.feed(DoorOpened(compartment=result.compartment, command_id=result.command_id))
    closed = await world.feed(DoorClosed(compartment=result.compartment))
    await world.deliver(closed)
    # Another replica told of the same event as new (MQTT 3.1.1: every replica ingests it).
    await world.service.event_stored(closed, IngestResult(new=True))

    assert len(world.notifier.of_kind("pickup.ready")) == 1
    assert len(world.link.grants()) == 1


async def test_low_documents_get_an_accessible_compartment_and_big_ones_a_big_one(world: PickupWorld) -> None:
    await world.register("LOW", needs_low=True)
    await world.register("PASS", kind="travel_document")
    await world.register("ENV", kind="other")

    low = await world.load("LOW")
    passport = await world.load("PASS")
    envelope = await world.load("ENV")

    assert low.compartment == 3  # S, 60 cm
    assert passport.compartment == 5  # M, not low: 4 (90 cm) stays free for wheelchair users
    assert envelope.compartment == 6


async def test_no_free_compartment_and_unknown_documents_are_refused(world: PickupWorld) -> None:
    for n in range(3):
        await world.register(f"LOW-{n}", needs_low=True)
    await world.load("LOW-0")
    await world.load("LOW-1")
    with pytest.raises(NoFreeCompartmentError, match="low"):
        await world.service.load_and_wait(BOX, "LOW-2")
    assert (await world.service.list(status="registered"))[0].code == "LOW-2"
    with pytest.raises(UnknownDocumentError):
        await world.service.load_and_wait(BOX, "NOPE")
    with pytest.raises(DocumentStateError, match="loaded"):
        await world.service.load_and_wait(BOX, "LOW-0")


async def test_loading_by_case_number_and_appointment_choice(world: PickupWorld) -> None:
    document_id = await world.register("DOC-7")
    await world.service.set_collection(document_id, "appointment")
    with pytest.raises(DocumentStateError, match="appointment"):
        await world.service.load_and_wait(BOX, "DOC-7")
    await world.service.set_collection(document_id, "box")

    result = await world.load("ab-doc-7")

    assert result.document_id == document_id
    with pytest.raises(DocumentStateError):
        await world.service.set_collection(document_id, "appointment")


async def test_a_jam_during_loading_marks_the_compartment_defective_and_frees_the_document(
    world: PickupWorld,
) -> None:
    await world.register()
    result = await world.service.load_and_wait(BOX, "DOC-1")
    await world.feed(
        CommandResult(
            command_id=result.command_id, compartment=result.compartment, outcome=CommandOutcome.JAMMED
        )
    )

    document = await world.service.get(result.document_id)
    assert document.status == "registered"
    assert document.compartment is None
    assert [n.kind for n in world.notifier.sent] == ["pickup.staff_alert"]
    again = await world.load("DOC-1")
    assert again.compartment != result.compartment
    async with transaction(world.sessions) as session:
        assert (await session.scalars(select(PickupGrantRow))).one().compartment == again.compartment


async def test_rest_load_that_the_box_rejects_is_undone(world: PickupWorld) -> None:
    await world.register()
    world.link.outcome = CommandOutcome.REJECTED
    with pytest.raises(CommandRejectedError):
        await world.service.load_and_wait(BOX, "DOC-1")
    assert (await world.service.list())[0].status == "registered"
