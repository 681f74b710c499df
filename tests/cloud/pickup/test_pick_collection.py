"""Collection, reconciliation after offline periods, staff accounts, the periodic job (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from docbox_cloud import ingest
from docbox_cloud.db import transaction
from docbox_cloud.pickup import audit
from docbox_cloud.pickup.errors import StaffAuthError, StaffLockedOutError
from docbox_cloud.pickup.models import AuditEntry, PickupDocument, PickupGrantRow, PickupSlot
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    BoxState,
    BoxStatus,
    DoorClosed,
    DoorOpened,
    Event,
    PickupCompleted,
    SignInFailed,
    SignInFailReason,
)
from tests.cloud.factories import BOX
from tests.cloud.pickup.conftest import PickupWorld

pytestmark = pytest.mark.integration


async def _grant_id(world: PickupWorld, document_id: uuid.UUID) -> uuid.UUID:
    async with transaction(world.sessions) as session:
        grant = (
            await session.scalars(select(PickupGrantRow).where(PickupGrantRow.document_id == document_id))
        ).one()
        return grant.grant_id


async def test_pickup_completed_collects_frees_and_is_stored_once(world: PickupWorld) -> None:
    document_id = await world.register()
    loaded = await world.load()
    grant_id = await _grant_id(world, document_id)

    await world.feed(SignInFailed(grant_id=grant_id, reason=SignInFailReason.WRONG_SECRET))
    await world.feed(PickupCompleted(compartment=loaded.compartment, grant_id=grant_id, offline=False))
    # The same pickup reported again under another event id (e.g. after an edge restore).
    await world.feed(PickupCompleted(compartment=loaded.compartment, grant_id=grant_id, offline=True))

    document = await world.service.get(document_id)
    assert document.status == "collected"
    assert document.erase_after is not None
    assert len(world.notifier.of_kind("pickup.collected")) == 1
    assert world.service.counters["pickup_duplicate"] == 1
    assert world.service.counters["signin_failed_wrong_secret"] == 1
    async with transaction(world.sessions) as session:
        assert (await session.scalars(select(PickupSlot))).all() == []
        assert (await session.get(PickupGrantRow, grant_id)).state == "used"  # type: ignore[union-attr]
        actions = [e.action for e in await audit.case_entries(session, document_id)]
        report = await audit.verify_chain(session)
    assert actions.count("collected") == 1
    for step in ("registered", "load_started", "opened", "shut", "loaded", "notified", "signin_failed"):
        assert step in actions
    assert report.ok
    assert report.checked >= len(actions)


async def test_birth_pushes_the_full_grant_set_without_revoked_grants(world: PickupWorld) -> None:
    keep = await world.register("KEEP")
    drop = await world.register("DROP")
    await world.load("KEEP")
    await world.load("DROP")
    await world.service.cancel(drop)
    assert world.link.revokes()[0].grant_ids == [await _grant_id(world, drop)]

    await world.service.status_applied(
        BoxStatus(box_id=BOX, state=BoxState.ONLINE, session=2, at=world.clock()), True
    )

    full = world.link.grants()[-1]
    assert full.replace_all
    assert [g.grant_id for g in full.grants] == [await _grant_id(world, keep)]
    assert (await world.service.get(drop)).status == "to_retrieve"


async def test_an_offline_pickup_after_a_cloud_cancellation_wins_and_alerts_staff(world: PickupWorld) -> None:
    document_id = await world.register()
    loaded = await world.load()
    grant_id = await _grant_id(world, document_id)
    await world.service.cancel(document_id)

    await world.feed(PickupCompleted(compartment=loaded.compartment, grant_id=grant_id, offline=True))

    document = await world.service.get(document_id)
    assert document.status == "collected"
    assert document.status_reason == "pickup_after_revocation"
    assert [n.to for n in world.notifier.of_kind("pickup.staff_alert")] == ["staff@office.example"]
    async with transaction(world.sessions) as session:
        actions = [e.action for e in await audit.case_entries(session, document_id)]
    assert "pickup_after_revocation" in actions


async def test_staff_pins_are_checked_and_accounts_lock_after_repeated_failures(world: PickupWorld) -> None:
    await world.service.create_staff("s1", "Loader", "4711")
    await world.service.check_staff("s1", "4711")
    with pytest.raises(StaffAuthError):
        await world.service.check_staff("nobody", "4711")
    for _ in range(4):
        with pytest.raises(StaffAuthError):
            await world.service.check_staff("s1", "0000")
    with pytest.raises(StaffLockedOutError):
        await world.service.check_staff("s1", "0000")
    with pytest.raises(StaffLockedOutError):
        await world.service.check_staff("s1", "4711")  # right PIN, but locked

    world.clock.advance(seconds=world.service.settings.pickup_staff_lockout_s + 1)
    await world.service.check_staff("s1", "4711")


async def test_job_reminds_then_expires_and_pauses_while_out_of_service(world: PickupWorld) -> None:
    document_id = await world.register()
    loaded = await world.load()
    start = world.clock()
    hold_until = (await world.service.get(document_id)).hold_until
    assert hold_until == start + timedelta(days=10)

    assert (await world.service.run_job(start + timedelta(days=7)))["reminded"] == 0
    assert (await world.service.run_job(start + timedelta(days=8, hours=1)))["reminded"] == 1
    assert (await world.service.run_job(start + timedelta(days=8, hours=2)))["reminded"] == 0
    assert len(world.notifier.of_kind("pickup.reminder")) == 1

    # The compartment jams for a day: the clock stops, then resumes with one day more.
    await world.feed(AlarmRaised(compartment=loaded.compartment, alarm=AlarmKind.JAMMED, active=True))
    assert (await world.service.run_job(start + timedelta(days=9)))["paused"] == 1
    assert (await world.service.run_job(start + timedelta(days=10, hours=1)))["expired"] == 0
    await world.service.mark_repaired(BOX, loaded.compartment)
    assert (await world.service.run_job(start + timedelta(days=10)))["resumed"] == 1
    document = await world.service.get(document_id)
    assert document.hold_until == hold_until + timedelta(days=1)
    assert world.link.grants()[-1].grants[0].valid_until == document.hold_until

    done = await world.service.run_job(start + timedelta(days=11, minutes=1))
    assert done["expired"] == 1
    document = await world.service.get(document_id)
    assert (document.status, document.status_reason) == ("to_retrieve", "expired")
    assert world.link.revokes()[-1].grant_ids == [await _grant_id(world, document_id)]


async def test_retrieval_returns_the_document_tells_the_applicant_and_erases_data_later(
    world: PickupWorld,
) -> None:
    document_id = await world.register()
    await world.load()
    start = world.clock()
    await world.service.run_job(start + timedelta(days=11))

    revokes_before = len(world.link.revokes())
    result = await world.service.retrieve_and_wait(BOX, None, staff_id="s1")
    # Expiry revoked the grant already; retrieval has nothing left to revoke.
    assert len(world.link.revokes()) == revokes_before
    await world.feed(DoorOpened(compartment=result.compartment, command_id=result.command_id))
    await world.feed(DoorClosed(compartment=result.compartment))

    document = await world.service.get(document_id)
    assert document.status == "returned"
    assert len(world.notifier.of_kind("pickup.returned")) == 1
    assert (await world.service.run_job(start + timedelta(days=12)))["erased"] == 0
    assert (await world.service.run_job(start + timedelta(days=42)))["erased"] == 1
    async with transaction(world.sessions) as session:
        row = await session.get(PickupDocument, document_id)
        assert row is not None
        assert (row.contact_enc, row.dob_enc) == (None, None)
        assert (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "personal_data_erased"))
        ).one()


async def test_retrieving_a_loaded_document_revokes_its_grant_first(world: PickupWorld) -> None:
    document_id = await world.register()
    await world.load()
    grant_id = await _grant_id(world, document_id)

    result = await world.service.retrieve_and_wait(BOX, "DOC-1", staff_id="s1")

    assert world.link.revokes()[-1].grant_ids == [grant_id]
    assert world.link.commands[-1].id == result.command_id  # revoked before the unlock was sent


async def test_the_job_applies_events_whose_effects_were_missed(world: PickupWorld) -> None:
    document_id = await world.register()
    result = await world.service.load_and_wait(BOX, "DOC-1")
    await world.feed(DoorOpened(compartment=result.compartment, command_id=result.command_id))
    # The bridge stored door_closed, but telling the service failed (e.g. the database blinked).
    world.seq += 1
    closed = Event(
        id=uuid.uuid4(),
        box_id=BOX,
        session=1,
        seq=world.seq,
        at=world.clock(),
        data=DoorClosed(compartment=result.compartment),
    )
    async with transaction(world.sessions) as session:
        await ingest.store_event(session, closed, now=world.clock())
    assert (await world.service.get(document_id)).status == "loading"

    assert (await world.service.run_job(world.clock() + timedelta(seconds=10)))["caught_up"] == 0  # grace
    assert (await world.service.run_job(world.clock() + timedelta(seconds=31)))["caught_up"] == 1
    assert (await world.service.run_job(world.clock() + timedelta(seconds=32)))["caught_up"] == 0

    assert (await world.service.get(document_id)).status == "loaded"
    assert len(world.notifier.of_kind("pickup.ready")) == 1


async def test_birth_of_a_box_that_never_had_grants_sends_nothing(world: PickupWorld) -> None:
    await world.service.status_applied(
        BoxStatus(box_id=BOX, state=BoxState.ONLINE, session=2, at=world.clock()), True
    )
    assert world.link.commands == []
    # A will, or a stale status, never triggers a push either.
    await world.register()
    await world.load()
    pushed = len(world.link.commands)
    await world.service.status_applied(
        BoxStatus(box_id=BOX, state=BoxState.OFFLINE, session=2, at=world.clock()), True
    )
    await world.service.status_applied(
        BoxStatus(box_id=BOX, state=BoxState.ONLINE, session=1, at=world.clock()), False
    )
    assert len(world.link.commands) == pushed
