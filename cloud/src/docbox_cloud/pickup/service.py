"""The pickup service: documents, loading, collection, retrieval, grants, and what the box reports.

Every state change runs in one database transaction together with its audit row and its
webhook (outbox); what must leave the process — notifications, grant pushes, kiosk answers —
is collected in :class:`Effects` and sent only after that transaction committed.

Box events reach :meth:`PickupService.event_stored` through the bridge's observer interface; a
marker row per event id makes their effects exactly-once even when an event is redelivered.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import Insert, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.bridge import ensure_opened
from docbox_cloud.db import transaction
from docbox_cloud.errors import BridgeUnavailableError, CloudError, UnknownBoxError
from docbox_cloud.ingest import IngestResult, SnapshotResult
from docbox_cloud.models import Box, Compartment
from docbox_cloud.models import Event as EventRow
from docbox_cloud.notify import Notification, NotificationError, Notifier
from docbox_cloud.pickup import audit, webhooks
from docbox_cloud.pickup.assignment import SIZE_BY_KIND, Candidate, choose
from docbox_cloud.pickup.crypto import DataCipher, cipher_or_none, require_cipher
from docbox_cloud.pickup.errors import (
    DocumentExistsError,
    DocumentStateError,
    InvalidInputError,
    NoFreeCompartmentError,
    PickupError,
    StaffAuthError,
    StaffLockedOutError,
    UnknownDocumentError,
)
from docbox_cloud.pickup.models import (
    PickupBoxKey,
    PickupDefect,
    PickupDocument,
    PickupGrantRow,
    PickupLoad,
    PickupProcessedEvent,
    PickupSlot,
    PickupStaff,
)
from docbox_cloud.pickup.staffpins import hash_pin, verify_pin
from docbox_cloud.pickup.texts import MessageKind, render
from docbox_cloud.settings import CloudSettings
from docbox_cloud.telemetry import points
from docbox_cloud.telemetry.lineprotocol import Point
from docbox_protocol import grants as grant_hashing
from docbox_protocol.messages import (
    AlarmKind,
    AlarmRaised,
    BoxState,
    BoxStatus,
    Command,
    CommandOutcome,
    CommandReply,
    CommandResult,
    DoorClosed,
    DoorOpened,
    Event,
    GrantsAction,
    KioskAnswer,
    KioskRequest,
    LoadRequest,
    PickupCompleted,
    PickupGrant,
    RetrieveRequest,
    RevokeGrantsAction,
    SignInFailed,
    StateSnapshot,
    Telemetry,
    UnlockAction,
    utcnow,
)
from docbox_protocol.signing import CommandSigner

log = logging.getLogger(__name__)

DocumentKind = Literal["residence_permit_card", "travel_document", "other"]
ContactChannel = Literal["sms", "email"]
Collection = Literal["box", "appointment"]
#: Document states in which the document physically sits in a compartment.
IN_BOX = ("loaded", "to_retrieve")
#: Box events with pickup effects (each gets a marker row once applied).
_PICKUP_EVENT_KINDS = (
    "door_opened",
    "door_closed",
    "command_result",
    "alarm",
    "pickup_completed",
    "signin_failed",
)
_CATCH_UP_GRACE = timedelta(seconds=30)
_CATCH_UP_WINDOW = timedelta(days=1)


class BoxLink(Protocol):
    """What the service needs from the MQTT bridge (:class:`docbox_cloud.bridge.MqttBridge`)."""

    @property
    def signer(self) -> CommandSigner:
        """Signs commands."""
        ...

    async def send_command(self, command: Command) -> None:
        """Record and publish a command without waiting."""

    async def unlock_and_wait(self, command: Command) -> CommandReply:
        """Record and publish an unlock; return the box's reply."""
        ...

    async def publish_answer(self, answer: KioskAnswer) -> None:
        """Publish a kiosk answer."""


@dataclass(frozen=True, slots=True)
class NewDocument:
    """What registering a document needs (validated by the API layer)."""

    code: str
    case_number: str
    kind: DocumentKind
    contact_channel: ContactChannel
    contact: str
    date_of_birth: date
    language: str = "de"
    needs_low: bool = False
    collection: Collection = "box"
    size: str | None = None


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A compartment opened for loading or retrieval."""

    load_id: uuid.UUID
    document_id: uuid.UUID
    box_id: str
    compartment: int
    command_id: uuid.UUID


@dataclass
class Effects:
    """What to send once the transaction committed."""

    notifications: list[tuple[uuid.UUID | None, Notification]] = field(default_factory=list)
    commands: list[tuple[str, GrantsAction | RevokeGrantsAction]] = field(default_factory=list)
    answers: list[KioskAnswer] = field(default_factory=list)
    full_sync: set[str] = field(default_factory=set)
    #: Telemetry points (loads, pickups, occupancy): written only for committed changes.
    points: list[Point] = field(default_factory=list)


class PointSink(Protocol):
    """Where telemetry points go (:class:`docbox_cloud.telemetry.TelemetryWriter`)."""

    def write(self, points: Iterable[Point]) -> None:
        """Queue points for writing; must not block."""


@dataclass(frozen=True, slots=True)
class _Plan:
    load: PickupLoad
    command: Command
    effects: Effects


class PickupService:
    """The pickup box domain on top of the database, the bridge and a notifier.

    Args:
        settings: Cloud settings (``pickup_*`` fields).
        sessions: Session factory.
        notifier: Delivers applicant and staff notifications; a public attribute, so tests and
            the app may swap it.
        bridge: Sends commands and kiosk answers; attach later with :attr:`bridge`.
        clock: Source of "now" (tests pass a fixed one).
        telemetry: Takes the ``load``, ``pickup`` and ``occupancy`` points (None: no InfluxDB).
    """

    def __init__(
        self,
        settings: CloudSettings,
        sessions: async_sessionmaker[AsyncSession],
        notifier: Notifier,
        *,
        bridge: BoxLink | None = None,
        clock: Callable[[], datetime] = utcnow,
        telemetry: PointSink | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.notifier = notifier
        self.bridge = bridge
        self.clock = clock
        self.telemetry = telemetry
        self._cipher: DataCipher | None = cipher_or_none(settings.pickup_data_key)
        self.counters: dict[str, int] = {}

    # ------------------------------------------------------------------ documents

    async def register(self, new: NewDocument, *, actor: str = "api") -> PickupDocument:
        """Register a finished document.

        Raises:
            DocumentExistsError: if the barcode is taken.
            PersonalDataKeyMissingError: if no data key is configured.
            GrantError: if the contact is a phone number that cannot be normalised.
        """
        cipher = require_cipher(self._cipher)
        contact = new.contact.strip()
        try:
            case_number = grant_hashing.normalise_login(new.case_number)
            if new.contact_channel == "sms":
                contact = grant_hashing.normalise_login(
                    contact, default_country_code=self.settings.pickup_country_code
                )
        except grant_hashing.GrantError as exc:
            raise InvalidInputError(str(exc)) from None
        if new.contact_channel == "sms" and not contact.startswith("+"):
            raise InvalidInputError("an SMS contact must be a phone number")
        if case_number.startswith("+"):
            raise InvalidInputError("the case number looks like a phone number")
        now = self.clock()
        async with transaction(self.sessions) as session:
            if (await session.scalars(select(PickupDocument).where(PickupDocument.code == new.code))).first():
                raise DocumentExistsError(f"a document with code {new.code!r} is already registered")
            document = PickupDocument(
                id=uuid.uuid4(),
                code=new.code,
                case_number=case_number,
                kind=new.kind,
                size=new.size or SIZE_BY_KIND[new.kind],
                needs_low=new.needs_low,
                language=new.language,
                collection=new.collection,
                status="registered",
                contact_channel=new.contact_channel,
                contact_enc=cipher.encrypt(contact),
                dob_enc=cipher.encrypt(new.date_of_birth.isoformat()),
                registered_at=now,
            )
            session.add(document)
            await session.flush()
            await audit.append(
                session, "registered", at=now, actor=actor, document_id=document.id, detail={"kind": new.kind}
            )
            self._webhook(session, "registered", document, now)
        return document

    async def get(self, document_id: uuid.UUID) -> PickupDocument:
        """Return one document.

        Raises:
            UnknownDocumentError: if there is none with this id.
        """
        async with transaction(self.sessions) as session:
            return await _document(session, document_id)

    async def list(self, *, status: str | None = None, limit: int = 500) -> Sequence[PickupDocument]:
        """Return documents, newest first, optionally of one status."""
        query = select(PickupDocument).order_by(PickupDocument.registered_at.desc()).limit(limit)
        if status is not None:
            query = query.where(PickupDocument.status == status)
        async with transaction(self.sessions) as session:
            return (await session.scalars(query)).all()

    async def set_collection(self, document_id: uuid.UUID, collection: Collection) -> PickupDocument:
        """Let the applicant choose box or appointment, until the document is loaded.

        Raises:
            UnknownDocumentError, DocumentStateError.
        """
        now = self.clock()
        async with transaction(self.sessions) as session:
            document = await _document(session, document_id, lock=True)
            if document.status != "registered":
                raise DocumentStateError(
                    f"document is {document.status}: the collection can no longer change"
                )
            if document.collection != collection:
                document.collection = collection
                await audit.append(
                    session,
                    "collection_changed",
                    at=now,
                    actor="applicant",
                    document_id=document.id,
                    detail={"collection": collection},
                )
        return document

    async def cancel(self, document_id: uuid.UUID, *, actor: str = "api") -> PickupDocument:
        """Withdraw a document: its grant is revoked; if it is in the box it is flagged for retrieval.

        Raises:
            UnknownDocumentError, DocumentStateError (already collected or returned).
        """
        now = self.clock()
        effects = Effects()
        async with transaction(self.sessions) as session:
            document = await _document(session, document_id, lock=True)
            if document.status in ("collected", "returned", "cancelled"):
                raise DocumentStateError(f"document is already {document.status}")
            if document.status == "loading":
                raise DocumentStateError(
                    "document is being loaded right now; cancel it once the door is shut"
                )
            await self._revoke_grants(session, document, now, effects)
            if document.status in IN_BOX:
                document.status, document.status_reason = "to_retrieve", "cancelled"
            else:
                self._close(document, "cancelled", now)
            await audit.append(session, "cancelled", at=now, actor=actor, document_id=document.id)
            self._webhook(session, "cancelled", document, now)
        await self._send(effects)
        return document

    # ------------------------------------------------------------------ staff

    async def create_staff(self, staff_id: str, name: str, pin: str) -> PickupStaff:
        """Create (or reset) a staff account with a PIN of 4-12 digits."""
        pin_hash = await asyncio.to_thread(hash_pin, pin)
        async with transaction(self.sessions) as session:
            staff = await session.get(PickupStaff, staff_id)
            if staff is None:
                staff = PickupStaff(staff_id=staff_id, name=name, pin_hash=pin_hash, failed_attempts=0)
                session.add(staff)
            else:
                staff.name, staff.pin_hash = name, pin_hash
                staff.failed_attempts, staff.locked_until = 0, None
            staff.active = True
        return staff

    async def check_staff(self, staff_id: str, pin: str) -> None:
        """Verify a staff PIN; count failures and lock the account after too many.

        Raises:
            StaffAuthError: unknown account or wrong PIN (the failure is committed first).
            StaffLockedOutError: the account is locked.
        """
        now = self.clock()
        async with transaction(self.sessions) as session:
            staff = await session.get(PickupStaff, staff_id, with_for_update=True)
            if staff is None or not staff.active:
                outcome: str = "unknown"
            elif staff.locked_until is not None and staff.locked_until > now:
                outcome = "locked"
            # scrypt takes tens of milliseconds: off the event loop.
            elif await asyncio.to_thread(verify_pin, pin, staff.pin_hash):
                staff.failed_attempts, staff.locked_until = 0, None
                return
            else:
                staff.failed_attempts += 1
                outcome = "wrong"
                if staff.failed_attempts >= self.settings.pickup_staff_max_failures:
                    staff.locked_until = now + timedelta(seconds=self.settings.pickup_staff_lockout_s)
                    staff.failed_attempts = 0
                    outcome = "locked_now"
            await audit.append(
                session, "staff_signin_failed", at=now, actor=f"staff:{staff_id}", detail={"outcome": outcome}
            )
        if outcome in ("locked", "locked_now"):
            raise StaffLockedOutError("too many wrong PINs: the staff account is locked for a while")
        raise StaffAuthError("unknown staff account or wrong PIN")

    # ------------------------------------------------------------------ loading and retrieval

    async def load_and_wait(
        self, box_id: str, document_code: str, *, staff_id: str | None = None
    ) -> LoadResult:
        """Assign a compartment and open it for loading; return once the box saw the door open.

        The document counts as loaded when the door is shut again (see :meth:`event_stored`).

        Raises:
            UnknownDocumentError, DocumentStateError, NoFreeCompartmentError, UnknownBoxError,
            BridgeUnavailableError, and the command errors of :func:`docbox_cloud.bridge.ensure_opened`.
        """
        return await self._open_and_wait("load", box_id, document_code, staff_id)

    async def retrieve_and_wait(
        self, box_id: str, document_code: str | None, *, staff_id: str | None = None
    ) -> LoadResult:
        """Open the compartment of a document to take it back to the counter (``None``: the next one due)."""
        return await self._open_and_wait("retrieve", box_id, document_code, staff_id)

    async def _open_and_wait(
        self, purpose: Literal["load", "retrieve"], box_id: str, code: str | None, staff_id: str | None
    ) -> LoadResult:

        bridge = self._require_bridge()
        plan = await self._plan(purpose, box_id, code, staff_id=staff_id, load_id=uuid.uuid4(), via="api")
        try:
            await self._send(plan.effects)
            ensure_opened(await bridge.unlock_and_wait(plan.command))
        except CloudError:
            await self._abort(plan.load.id, "unlock_failed")
            raise
        return _result(plan.load)

    async def handle_request(self, request: KioskRequest) -> None:
        """Handle a kiosk request from the bridge: check staff, plan, send the unlock; never wait.

        Failures are answered on the box's answers topic with a code (``unknown_document``,
        ``no_free_compartment``, ``wrong_staff_pin``, ``locked_out`` …); storage errors propagate
        so that the broker redelivers the request.
        """
        body = request.body
        purpose: Literal["load", "retrieve"] = "load" if isinstance(body, LoadRequest) else "retrieve"
        assert isinstance(body, LoadRequest | RetrieveRequest)
        try:
            await self.check_staff(body.staff_id, body.staff_pin)
            async with transaction(self.sessions) as session:
                if await session.get(PickupLoad, request.id) is not None:
                    return  # a redelivered request: it was planned already
            plan = await self._plan(
                purpose,
                request.box_id,
                body.document_code,
                staff_id=body.staff_id,
                load_id=request.id,
                via="kiosk",
            )
        except PickupError as exc:
            self._count(f"request_{exc.code}")
            await self._answer(request, ok=False, code=exc.code, message=str(exc))
            return
        except UnknownBoxError as exc:
            await self._answer(request, ok=False, code="unknown_box", message=str(exc))
            return
        try:
            await self._send(plan.effects)
            await self._require_bridge().send_command(plan.command)
        except BridgeUnavailableError as exc:
            # The connection died under us: undo, so that staff can simply scan again.
            log.warning("kiosk %s request %s: unlock not sent: %s", purpose, request.id, exc)
            await self._abort(plan.load.id, "unlock_failed")

    async def _plan(
        self,
        purpose: Literal["load", "retrieve"],
        box_id: str,
        code: str | None,
        *,
        staff_id: str | None,
        load_id: uuid.UUID,
        via: str,
    ) -> _Plan:
        bridge = self._require_bridge()
        now = self.clock()
        effects = Effects()
        async with transaction(self.sessions) as session:
            box = await session.get(Box, box_id)
            if box is None:
                raise UnknownBoxError(box_id)
            if purpose == "load":
                document = await self._loadable(session, code or "")
                number = await self._assign(session, box_id, document)
                session.add(PickupSlot(box_id=box_id, number=number, document_id=document.id, since=now))
                document.status, document.box_id, document.compartment = "loading", box_id, number
            else:
                document = await self._retrievable(session, box_id, code)
                assert document.compartment is not None
                number = document.compartment
                await self._revoke_grants(session, document, now, effects)
            command = bridge.signer.command(box_id, UnlockAction(compartment=number, request_id=load_id), now)
            load = PickupLoad(
                id=load_id,
                command_id=command.id,
                purpose=purpose,
                document_id=document.id,
                box_id=box_id,
                compartment=number,
                staff_id=staff_id,
                via=via,
                state="unlocking",
                created_at=now,
            )
            session.add(load)
            actor = f"staff:{staff_id}" if staff_id else "api"
            await audit.append(
                session,
                f"{purpose}_started",
                at=now,
                actor=actor,
                document_id=document.id,
                box_id=box_id,
                compartment=number,
                detail={"load_id": str(load_id), "command_id": str(command.id)},
            )
        return _Plan(load=load, command=command, effects=effects)

    async def _loadable(self, session: AsyncSession, code: str) -> PickupDocument:
        document = (await session.scalars(select(PickupDocument).where(PickupDocument.code == code))).first()
        if document is None:
            by_case = (
                await session.scalars(
                    select(PickupDocument).where(
                        PickupDocument.case_number == _case_or_none(code),
                        PickupDocument.status == "registered",
                    )
                )
            ).all()
            if len(by_case) != 1:
                raise UnknownDocumentError(f"no document to load for code {code[:64]!r}")
            document = by_case[0]
        await session.refresh(document, with_for_update=True)
        if document.status != "registered":
            raise DocumentStateError(f"document is {document.status}, not waiting to be loaded")
        if document.collection != "box":
            raise DocumentStateError("the applicant chose to collect this document at an appointment")
        return document

    async def _retrievable(self, session: AsyncSession, box_id: str, code: str | None) -> PickupDocument:
        query = select(PickupDocument).where(PickupDocument.box_id == box_id)
        if code is None:
            query = query.where(PickupDocument.status == "to_retrieve").order_by(PickupDocument.compartment)
        else:
            query = query.where(PickupDocument.code == code, PickupDocument.status.in_(IN_BOX))
        document = (await session.scalars(query.limit(1).with_for_update())).first()
        if document is None:
            what = "to retrieve" if code is None else f"in this box for code {code[:64]!r}"
            raise UnknownDocumentError(f"no document {what}")
        return document

    async def _assign(self, session: AsyncSession, box_id: str, document: PickupDocument) -> int:
        occupied = set(
            (await session.scalars(select(PickupSlot.number).where(PickupSlot.box_id == box_id))).all()
        )
        defective = set(
            (await session.scalars(select(PickupDefect.number).where(PickupDefect.box_id == box_id))).all()
        )
        compartments = (await session.scalars(select(Compartment).where(Compartment.box_id == box_id))).all()
        number = choose(
            (
                Candidate(
                    number=c.number,
                    size=c.size,
                    height_cm=c.height_cm,
                    door=c.door,
                    alarms=tuple(c.alarms),
                    occupied=c.number in occupied,
                    defective=c.number in defective,
                )
                for c in compartments
            ),
            needed=document.size,
            low=document.needs_low,
            accessible_cm=(self.settings.pickup_accessible_min_cm, self.settings.pickup_accessible_max_cm),
        )
        if number is None:
            low = " low" if document.needs_low else ""
            raise NoFreeCompartmentError(f"no free{low} compartment of size {document.size} or larger")
        return number

    async def _abort(self, load_id: uuid.UUID, reason: str) -> None:
        """Undo a planned load or retrieval whose door never opened (idempotent)."""
        now = self.clock()
        async with transaction(self.sessions) as session:
            load = await session.get(PickupLoad, load_id, with_for_update=True)
            if load is None or load.state not in ("unlocking", "open"):
                return
            await self._fail_load(session, load, reason, now)

    async def _fail_load(self, session: AsyncSession, load: PickupLoad, reason: str, now: datetime) -> None:
        load.state, load.finished_at = "failed", now
        document = await _document(session, load.document_id, lock=True)
        if load.purpose == "load" and document.status == "loading":
            document.status, document.box_id, document.compartment = "registered", None, None
            slot = await session.get(PickupSlot, (load.box_id, load.compartment))
            if slot is not None:
                await session.delete(slot)
        await audit.append(
            session,
            f"{load.purpose}_failed",
            at=now,
            actor=f"box:{load.box_id}",
            document_id=document.id,
            box_id=load.box_id,
            compartment=load.compartment,
            detail={"load_id": str(load.id), "reason": reason},
        )

    # ------------------------------------------------------------------ defects

    async def mark_defective(self, box_id: str, number: int, reason: str, *, actor: str = "api") -> None:
        """Take a compartment out of service (not assignable; the holding clock of its document pauses)."""
        now = self.clock()
        async with transaction(self.sessions) as session:
            await self._defect(session, box_id, number, reason, now, actor)

    async def mark_repaired(self, box_id: str, number: int, *, actor: str = "api") -> bool:
        """Put a compartment back into service; return whether it was out of service."""
        now = self.clock()
        async with transaction(self.sessions) as session:
            defect = await session.get(PickupDefect, (box_id, number))
            if defect is None:
                return False
            await session.delete(defect)
            await audit.append(session, "repaired", at=now, actor=actor, box_id=box_id, compartment=number)
        return True

    async def _defect(
        self, session: AsyncSession, box_id: str, number: int, reason: str, now: datetime, actor: str
    ) -> bool:
        if await session.get(PickupDefect, (box_id, number)) is not None:
            return False
        session.add(PickupDefect(box_id=box_id, number=number, reason=reason[:64], since=now))
        await audit.append(
            session,
            "defective",
            at=now,
            actor=actor,
            box_id=box_id,
            compartment=number,
            detail={"reason": reason},
        )
        return True

    # ------------------------------------------------------------------ ingest observer

    async def event_stored(self, event: Event, result: IngestResult) -> None:
        """Apply what a newly stored box event means for documents, loads and grants (once)."""
        if not result.new:
            return
        data = event.data
        if not isinstance(
            data, DoorOpened | DoorClosed | CommandResult | AlarmRaised | PickupCompleted | SignInFailed
        ):
            return
        effects = Effects()
        async with transaction(self.sessions) as session:
            marker = await session.execute(_insert_marker(session, event))
            if marker.scalar_one_or_none() is None:
                return
            await self._apply(session, event, effects)
        await self._send(effects)

    async def status_applied(self, status: BoxStatus, changed: bool) -> None:
        """On a box's birth push its full grant set (``replace_all``): reconciliation after offline.

        Boxes that never had a grant (no lookup salt yet) are left alone: there is nothing to
        reconcile, and a box not used for pickups sees no grant commands at all.
        """
        if not changed or status.state is not BoxState.ONLINE:
            return
        async with transaction(self.sessions) as session:
            if await session.get(PickupBoxKey, status.box_id) is None:
                return
        await self._send(Effects(full_sync={status.box_id}))

    async def snapshot_applied(self, snapshot: StateSnapshot, result: SnapshotResult) -> None:
        """Nothing to do: occupancy lives in the pickup tables."""

    async def telemetry_received(self, telemetry: Telemetry) -> None:
        """Nothing to do."""

    async def _apply(self, session: AsyncSession, event: Event, effects: Effects) -> None:
        data, box_id, at = event.data, event.box_id, event.at
        actor = f"box:{box_id}"
        if isinstance(data, DoorOpened):
            load = await self._load_by_command(session, data.command_id)
            if load is not None and load.state == "unlocking":
                load.state, load.opened_at = "open", at
            if load is not None or data.grant_id is not None or data.forced:
                await audit.append(
                    session,
                    "opened",
                    at=at,
                    actor=actor,
                    document_id=load.document_id
                    if load
                    else await self._document_at(session, box_id, data.compartment),
                    box_id=box_id,
                    compartment=data.compartment,
                    detail=_ids(command_id=data.command_id, grant_id=data.grant_id, forced=data.forced),
                )
        elif isinstance(data, DoorClosed):
            await self._door_closed(session, box_id, data.compartment, at, effects)
        elif isinstance(data, CommandResult):
            load = await self._load_by_command(session, data.command_id)
            if (
                load is not None
                and load.state in ("unlocking", "open")
                and data.outcome
                in (
                    CommandOutcome.JAMMED,
                    CommandOutcome.REJECTED,
                )
            ):
                await self._fail_load(session, load, data.outcome.value, at)
                if data.outcome is CommandOutcome.JAMMED:
                    await self._jammed(session, box_id, load.compartment, at, effects)
                if load.via == "kiosk":
                    effects.answers.append(_answer(load.id, box_id, ok=False, code=data.outcome.value))
        elif isinstance(data, AlarmRaised):
            if data.alarm is AlarmKind.JAMMED and data.active:
                await self._jammed(session, box_id, data.compartment, at, effects)
        elif isinstance(data, PickupCompleted):
            await self._collected(session, box_id, data, at, effects)
        elif isinstance(data, SignInFailed):
            self._count(f"signin_failed_{data.reason.value}")
            grant = await session.get(PickupGrantRow, data.grant_id) if data.grant_id else None
            await audit.append(
                session,
                "signin_failed",
                at=at,
                actor=actor,
                document_id=grant.document_id if grant else None,
                box_id=box_id,
                detail=_ids(grant_id=data.grant_id, reason=data.reason.value),
            )

    async def _door_closed(
        self, session: AsyncSession, box_id: str, number: int, at: datetime, effects: Effects
    ) -> None:
        load = (
            await session.scalars(
                select(PickupLoad)
                .where(
                    PickupLoad.box_id == box_id, PickupLoad.compartment == number, PickupLoad.state == "open"
                )
                .with_for_update()
            )
        ).first()
        document_id = load.document_id if load else await self._document_at(session, box_id, number)
        if document_id is not None:
            await audit.append(
                session,
                "shut",
                at=at,
                actor=f"box:{box_id}",
                document_id=document_id,
                box_id=box_id,
                compartment=number,
            )
        if load is None:
            return
        load.state, load.finished_at = "done", at
        document = await _document(session, load.document_id, lock=True)
        if load.purpose == "load":
            await self._loaded(session, document, at, effects)
        else:
            await self._returned(session, document, box_id, number, at, effects)
        if load.via == "kiosk":
            code = "loaded" if load.purpose == "load" else "retrieved"
            effects.answers.append(_answer(load.id, box_id, ok=True, code=code, compartment=number))

    async def _loaded(
        self, session: AsyncSession, document: PickupDocument, at: datetime, effects: Effects
    ) -> None:
        assert document.box_id is not None
        assert document.compartment is not None
        document.status, document.loaded_at = "loaded", at
        document.hold_until = at + timedelta(days=self.settings.pickup_holding_days)
        pin = f"{secrets.randbelow(10**6):06d}"
        grant = await self._new_grant(session, document, pin, at)
        await audit.append(
            session,
            "loaded",
            at=at,
            actor=f"box:{document.box_id}",
            document_id=document.id,
            box_id=document.box_id,
            compartment=document.compartment,
            detail={"grant_id": str(grant.grant_id)},
        )
        self._webhook(session, "loaded", document, at)
        key = await self._box_key(session, document.box_id)
        effects.commands.append(
            (document.box_id, GrantsAction(lookup_salt=key.lookup_salt, grants=[_wire(grant)]))
        )
        self._notify(effects, document, "ready", pin=pin)
        effects.points.append(points.load(document.box_id, document.compartment, at))
        await self._occupancy(session, document.box_id, at, effects)

    async def _new_grant(
        self, session: AsyncSession, document: PickupDocument, pin: str, at: datetime
    ) -> PickupGrantRow:
        assert document.box_id is not None
        assert document.compartment is not None
        assert document.hold_until
        cipher = require_cipher(self._cipher)
        if document.dob_enc is None or document.contact_enc is None:
            raise DocumentStateError("the document's personal data was erased")
        dob = date.fromisoformat(cipher.decrypt(document.dob_enc))
        login = (
            cipher.decrypt(document.contact_enc)
            if document.contact_channel == "sms"
            else document.case_number
        )
        key = await self._box_key(session, document.box_id)
        salt = grant_hashing.new_salt()
        grant = PickupGrantRow(
            grant_id=uuid.uuid4(),
            document_id=document.id,
            box_id=document.box_id,
            compartment=document.compartment,
            login_hash=grant_hashing.login_hash(key.lookup_salt, login),
            secret_salt=salt,
            secret_hash=await asyncio.to_thread(grant_hashing.secret_hash, salt, pin, dob),
            language=document.language,
            valid_from=at,
            valid_until=document.hold_until,
            state="active",
            created_at=at,
        )
        session.add(grant)
        return grant

    async def _returned(
        self,
        session: AsyncSession,
        document: PickupDocument,
        box_id: str,
        number: int,
        at: datetime,
        effects: Effects,
    ) -> None:
        reason = document.status_reason
        self._close(document, "returned", at)
        document.status_reason = reason
        await self._free_slot(session, box_id, number)
        await self._occupancy(session, box_id, at, effects)
        await audit.append(
            session,
            "returned",
            at=at,
            actor=f"box:{box_id}",
            document_id=document.id,
            box_id=box_id,
            compartment=number,
        )
        self._webhook(session, "returned", document, at)
        if reason != "cancelled":
            self._notify(effects, document, "returned")

    async def _collected(
        self, session: AsyncSession, box_id: str, data: PickupCompleted, at: datetime, effects: Effects
    ) -> None:
        grant = await session.get(PickupGrantRow, data.grant_id, with_for_update=True)
        if grant is None or grant.box_id != box_id:
            await audit.append(
                session,
                "pickup_unknown_grant",
                at=at,
                actor=f"box:{box_id}",
                box_id=box_id,
                compartment=data.compartment,
                detail=_ids(grant_id=data.grant_id),
            )
            self._alert(
                effects,
                f"box {box_id} reported a pickup with an unknown grant at compartment {data.compartment}",
            )
            return
        document = await _document(session, grant.document_id, lock=True)
        if grant.state == "used" or document.status == "collected":
            self._count("pickup_duplicate")
            return
        prior = document.status
        loaded_at = document.loaded_at
        grant.state, grant.ended_at = "used", at
        await self._revoke_grants(session, document, at, effects)
        self._close(document, "collected", at)
        await self._free_slot(session, box_id, data.compartment)
        await audit.append(
            session,
            "collected",
            at=at,
            actor=f"box:{box_id}",
            document_id=document.id,
            box_id=box_id,
            compartment=data.compartment,
            detail={"grant_id": str(grant.grant_id), "offline": data.offline},
        )
        self._webhook(session, "collected", document, at, offline=data.offline)
        waited_s = max(0.0, (at - loaded_at).total_seconds()) if loaded_at is not None else None
        effects.points.append(points.pickup(box_id, data.compartment, at, waited_s=waited_s))
        await self._occupancy(session, box_id, at, effects)
        if prior != "loaded":
            # Revoked in the cloud while the box was offline, but the applicant already took it:
            # the pickup wins (the document is physically gone); staff must know.
            document.status_reason = "pickup_after_revocation"
            await audit.append(
                session,
                "pickup_after_revocation",
                at=at,
                actor="system",
                document_id=document.id,
                detail={"was": prior},
            )
            self._alert(effects, f"document {document.id} was collected offline after it had been {prior}")
        self._notify(effects, document, "collected", at=at.strftime("%Y-%m-%d %H:%M UTC"))

    async def _jammed(
        self, session: AsyncSession, box_id: str, number: int, at: datetime, effects: Effects
    ) -> None:
        if await self._defect(session, box_id, number, "jammed", at, f"box:{box_id}"):
            self._alert(effects, f"compartment {number} of box {box_id} jammed and is out of service")

    # ------------------------------------------------------------------ the periodic job

    async def run_job(self, now: datetime) -> dict[str, int]:
        """Pause/resume holding clocks, send reminders, expire, erase personal data, resync grants.

        A plain function of ``now`` so that tests drive it; the app runs it every
        ``pickup_job_interval_s``. Returns what it did, counted.
        """
        done = {"paused": 0, "resumed": 0, "reminded": 0, "expired": 0, "erased": 0, "synced": 0}
        done["caught_up"] = await self.catch_up(now)
        effects = Effects()
        reminder = timedelta(days=self.settings.pickup_reminder_days)
        async with transaction(self.sessions) as session:
            offline = set((await session.scalars(select(Box.id).where(Box.online.is_(False)))).all())
            defects = {(d.box_id, d.number) for d in (await session.scalars(select(PickupDefect))).all()}
            loaded = (
                await session.scalars(
                    select(PickupDocument).where(PickupDocument.status == "loaded").with_for_update()
                )
            ).all()
            for document in loaded:
                assert document.hold_until is not None
                out = document.box_id in offline or (document.box_id, document.compartment) in defects
                if out:
                    if document.hold_paused_since is None:
                        document.hold_paused_since = now
                        done["paused"] += 1
                    continue
                if document.hold_paused_since is not None:
                    document.hold_until += now - document.hold_paused_since
                    document.hold_paused_since = None
                    await self._extend_grants(session, document, effects)
                    done["resumed"] += 1
                if now >= document.hold_until:
                    await self._expire(session, document, now, effects)
                    done["expired"] += 1
                elif reminder and document.reminder_sent_at is None and now >= document.hold_until - reminder:
                    document.reminder_sent_at = now
                    await audit.append(session, "reminded", at=now, actor="system", document_id=document.id)
                    self._notify(effects, document, "reminder")
                    done["reminded"] += 1
            to_erase = (
                await session.scalars(
                    select(PickupDocument).where(
                        PickupDocument.erase_after <= now, PickupDocument.contact_enc.is_not(None)
                    )
                )
            ).all()
            for document in to_erase:
                document.contact_enc = document.dob_enc = None
                await audit.append(
                    session, "personal_data_erased", at=now, actor="system", document_id=document.id
                )
                done["erased"] += 1
            due = (
                await session.scalars(
                    select(PickupBoxKey.box_id).where(
                        PickupBoxKey.sync_due.is_(True), PickupBoxKey.box_id.not_in(offline)
                    )
                )
            ).all()
            effects.full_sync.update(due)
            done["synced"] = len(due)
        await self._send(effects)
        return done

    async def catch_up(self, now: datetime, *, limit: int = 500) -> int:
        """Apply stored events whose pickup effects were never applied; return how many.

        The bridge stores an event, then tells this service; if that failed (a database hiccup
        between the two transactions, a bug) the event is stored but its effect is missing.
        This sweep finds such events of the last day (older than a grace period, so that it does
        not race the live path needlessly; the marker row makes a race harmless anyway).
        """
        query = (
            select(EventRow)
            .outerjoin(
                PickupProcessedEvent,
                and_(
                    PickupProcessedEvent.box_id == EventRow.box_id,
                    PickupProcessedEvent.event_id == EventRow.event_id,
                ),
            )
            .where(
                PickupProcessedEvent.event_id.is_(None),
                EventRow.kind.in_(_PICKUP_EVENT_KINDS),
                EventRow.received_at <= now - _CATCH_UP_GRACE,
                EventRow.received_at > now - _CATCH_UP_WINDOW,
            )
            .order_by(EventRow.box_id, EventRow.seq)
            .limit(limit)
        )
        async with transaction(self.sessions) as session:
            rows = (await session.scalars(query)).all()
        for row in rows:
            event = Event.model_validate(
                {
                    "id": row.event_id,
                    "box_id": row.box_id,
                    "session": row.session,
                    "seq": row.seq,
                    "at": row.occurred_at,
                    "data": row.payload,
                }
            )
            await self.event_stored(event, IngestResult(new=True))
        if rows:
            log.warning("applied the pickup effects of %d stored events late", len(rows))
        return len(rows)

    async def _expire(
        self, session: AsyncSession, document: PickupDocument, now: datetime, effects: Effects
    ) -> None:
        document.status, document.status_reason = "to_retrieve", "expired"
        await self._revoke_grants(session, document, now, effects)
        await audit.append(
            session,
            "expired",
            at=now,
            actor="system",
            document_id=document.id,
            box_id=document.box_id,
            compartment=document.compartment,
        )
        self._webhook(session, "expired", document, now)

    async def _extend_grants(self, session: AsyncSession, document: PickupDocument, effects: Effects) -> None:
        assert document.hold_until is not None
        assert document.box_id is not None
        grants = await _active_grants(session, document.id)
        for grant in grants:
            grant.valid_until = document.hold_until
        if grants:
            key = await self._box_key(session, document.box_id)
            effects.commands.append(
                (
                    document.box_id,
                    GrantsAction(lookup_salt=key.lookup_salt, grants=[_wire(g) for g in grants]),
                )
            )

    # ------------------------------------------------------------------ grants

    async def full_grant_set(self, box_id: str) -> GrantsAction:
        """Return every active, unexpired grant of a box as a ``replace_all`` push."""
        now = self.clock()
        async with transaction(self.sessions) as session:
            key = await self._box_key(session, box_id)
            grants = (
                await session.scalars(
                    select(PickupGrantRow)
                    .where(
                        PickupGrantRow.box_id == box_id,
                        PickupGrantRow.state == "active",
                        PickupGrantRow.valid_until > now,
                    )
                    .order_by(PickupGrantRow.compartment)
                )
            ).all()
            return GrantsAction(
                lookup_salt=key.lookup_salt, grants=[_wire(g) for g in grants], replace_all=True
            )

    async def _revoke_grants(
        self, session: AsyncSession, document: PickupDocument, now: datetime, effects: Effects
    ) -> None:
        by_box: dict[str, list[uuid.UUID]] = {}
        for grant in await _active_grants(session, document.id):
            grant.state, grant.ended_at = "revoked", now
            by_box.setdefault(grant.box_id, []).append(grant.grant_id)
        for box_id, ids in by_box.items():
            effects.commands.append((box_id, RevokeGrantsAction(grant_ids=ids)))
            await audit.append(
                session,
                "grant_revoked",
                at=now,
                actor="system",
                document_id=document.id,
                box_id=box_id,
                detail={"grant_ids": [str(i) for i in ids]},
            )

    async def _box_key(self, session: AsyncSession, box_id: str) -> PickupBoxKey:
        key = await session.get(PickupBoxKey, box_id)
        if key is None:
            key = PickupBoxKey(box_id=box_id, lookup_salt=grant_hashing.new_salt(), sync_due=False)
            session.add(key)
            await session.flush()
        return key

    # ------------------------------------------------------------------ helpers

    def _require_bridge(self) -> BoxLink:
        if self.bridge is None:
            raise BridgeUnavailableError("MQTT is not configured (DOCBOX_MQTT_URL is unset)")
        return self.bridge

    def _close(self, document: PickupDocument, status: str, now: datetime) -> None:
        document.status, document.closed_at = status, now
        document.erase_after = now + timedelta(days=self.settings.pickup_erase_days)

    async def _occupancy(self, session: AsyncSession, box_id: str, at: datetime, effects: Effects) -> None:
        """Add the box's occupancy point as of this transaction (documents in compartments)."""
        if self.telemetry is None:
            return  # spare the two counting queries
        occupied = await session.scalar(
            select(func.count())
            .select_from(PickupDocument)
            .where(PickupDocument.box_id == box_id, PickupDocument.status.in_(IN_BOX))
        )
        total = await session.scalar(
            select(func.count()).select_from(Compartment).where(Compartment.box_id == box_id)
        )
        occupied, total = occupied or 0, total or 0
        if occupied <= total:  # else the box's compartments are not known yet: nothing to say
            effects.points.append(points.occupancy(box_id, at, occupied=occupied, total=total))

    async def _free_slot(self, session: AsyncSession, box_id: str, number: int) -> None:
        slot = await session.get(PickupSlot, (box_id, number))
        if slot is not None:
            await session.delete(slot)

    async def _document_at(self, session: AsyncSession, box_id: str, number: int) -> uuid.UUID | None:
        slot = await session.get(PickupSlot, (box_id, number))
        return slot.document_id if slot else None

    async def _load_by_command(
        self, session: AsyncSession, command_id: uuid.UUID | None
    ) -> PickupLoad | None:
        if command_id is None:
            return None
        query = select(PickupLoad).where(PickupLoad.command_id == command_id).with_for_update()
        return (await session.scalars(query)).first()

    def _webhook(
        self, session: AsyncSession, event: str, document: PickupDocument, now: datetime, **extra: Any
    ) -> None:
        if self.settings.pickup_webhook_url is None:
            return
        data: dict[str, Any] = {
            "document_id": str(document.id),
            "case_number": document.case_number,
            "code": document.code,
            "status": document.status,
            "box_id": document.box_id,
            "compartment": document.compartment,
            **extra,
        }
        webhooks.enqueue(session, event, data, now=now)

    def _notify(self, effects: Effects, document: PickupDocument, kind: MessageKind, **values: str) -> None:
        if self._cipher is None or document.contact_enc is None:
            return
        values.setdefault("ref", document.case_number[-6:])
        if document.hold_until is not None:
            values.setdefault("until", document.hold_until.date().isoformat())
        subject, text = render(kind, document.language, **values)
        channel: Literal["sms", "email"] = "sms" if document.contact_channel == "sms" else "email"
        notification = Notification(
            channel=channel,
            to=self._cipher.decrypt(document.contact_enc),
            subject=subject,
            text=text,
            language=document.language,
            kind=f"pickup.{kind}",
        )
        effects.notifications.append((document.id, notification))

    def _alert(self, effects: Effects, text: str) -> None:
        log.warning("pickup staff alert: %s", text)
        self._count("staff_alert")
        if self.settings.pickup_staff_email:
            effects.notifications.append(
                (
                    None,
                    Notification(
                        channel="email",
                        to=self.settings.pickup_staff_email,
                        subject="docbox: action needed",
                        text=text,
                        language="de",
                        kind="pickup.staff_alert",
                    ),
                )
            )

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    async def _answer(
        self, request: KioskRequest, *, ok: bool, code: str, message: str | None = None
    ) -> None:
        await self._send(
            Effects(answers=[_answer(request.id, request.box_id, ok=ok, code=code, message=message)])
        )

    async def _send(self, effects: Effects) -> None:
        """Deliver the effects of a committed transaction; failures are logged, never raised."""
        if effects.points and self.telemetry is not None:
            try:
                self.telemetry.write(effects.points)
            except Exception:
                # Statistics must never hold up a pickup.
                log.exception("telemetry points of the pickup workflow not written")
        for box_id in sorted(effects.full_sync):
            effects.commands.append((box_id, await self.full_grant_set(box_id)))
        for box_id, action in effects.commands:
            await self._push(box_id, action)
        for answer in effects.answers:
            try:
                await self._require_bridge().publish_answer(answer)
            except BridgeUnavailableError as exc:
                log.warning("kiosk answer %s to box %s not sent: %s", answer.code, answer.box_id, exc)
        for document_id, notification in effects.notifications:
            outcome = "notified"
            try:
                await self.notifier.send(notification)
            except NotificationError as exc:
                outcome = "notify_failed"
                log.warning("notification %s for document %s failed: %s", notification.kind, document_id, exc)
            if document_id is not None:
                async with transaction(self.sessions) as session:
                    await audit.append(
                        session,
                        outcome,
                        at=self.clock(),
                        actor="system",
                        document_id=document_id,
                        detail={"kind": notification.kind, "channel": notification.channel},
                    )

    async def _push(self, box_id: str, action: GrantsAction | RevokeGrantsAction) -> None:
        full = isinstance(action, GrantsAction) and action.replace_all
        try:
            bridge = self._require_bridge()
            await bridge.send_command(bridge.signer.command(box_id, action))
        except BridgeUnavailableError as exc:
            # The box gets the full set at its next birth, or from the job once we can send again.
            log.warning("grant push to box %s deferred: %s", box_id, exc)
            async with transaction(self.sessions) as session:
                key = await self._box_key(session, box_id)
                key.sync_due = True
            return
        if full:
            async with transaction(self.sessions) as session:
                key = await self._box_key(session, box_id)
                key.sync_due, key.synced_at = False, self.clock()


async def _document(session: AsyncSession, document_id: uuid.UUID, *, lock: bool = False) -> PickupDocument:
    document = await session.get(PickupDocument, document_id, with_for_update=lock)
    if document is None:
        raise UnknownDocumentError(f"no document {document_id}")
    return document


async def _active_grants(session: AsyncSession, document_id: uuid.UUID) -> Sequence[PickupGrantRow]:
    query = select(PickupGrantRow).where(
        PickupGrantRow.document_id == document_id, PickupGrantRow.state == "active"
    )
    return (await session.scalars(query.with_for_update())).all()


def _case_or_none(code: str) -> str | None:
    try:
        return grant_hashing.normalise_login(code)
    except grant_hashing.GrantError:
        return None


def _wire(grant: PickupGrantRow) -> PickupGrant:
    return PickupGrant(
        grant_id=grant.grant_id,
        compartment=grant.compartment,
        login_hash=grant.login_hash,
        secret_salt=grant.secret_salt,
        secret_hash=grant.secret_hash,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        language=grant.language,
    )


def _answer(
    request_id: uuid.UUID,
    box_id: str,
    *,
    ok: bool,
    code: str,
    compartment: int | None = None,
    message: str | None = None,
) -> KioskAnswer:
    return KioskAnswer(
        request_id=request_id,
        box_id=box_id,
        at=utcnow(),
        ok=ok,
        code=code,
        compartment=compartment,
        message=message[:200] if message else None,
    )


def _result(load: PickupLoad) -> LoadResult:
    return LoadResult(
        load_id=load.id,
        document_id=load.document_id,
        box_id=load.box_id,
        compartment=load.compartment,
        command_id=load.command_id,
    )


def _ids(**values: object) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items() if v is not None}


def _insert_marker(session: AsyncSession, event: Event) -> Insert:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(PickupProcessedEvent)
        .values(box_id=event.box_id, event_id=event.id)
        .on_conflict_do_nothing()
        .returning(PickupProcessedEvent.event_id)
    )
