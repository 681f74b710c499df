"""End to end against real Mosquitto and PostgreSQL with the simulated box: register a document via
REST, load it (REST and kiosk staff mode), the door opens and is shut, the applicant gets a PIN,
the grant reaches the edge, and the audit chain verifies."""

from __future__ import annotations

import asyncio
import queue
import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from docbox_cloud.notify import Notification
from docbox_protocol import codec, decode
from docbox_protocol.grants import login_hash, verify_secret
from docbox_protocol.messages import (
    Command,
    CommandOutcome,
    CommandReply,
    GrantsAction,
    KioskAnswer,
    KioskRequest,
    LoadRequest,
    Message,
    SignedCommand,
    UnlockAction,
    utcnow,
)
from docbox_protocol.signing import b64d
from docbox_protocol.topics import Channel, topic
from tests.e2e.system import System, running_system
from tests.support.fixtures import PostgresDatabase
from tests.support.mqtt import MqttTestClient
from tests.support.services import MosquittoServer

BOX = "box-e2e"
DOB = date(1988, 2, 29)
DEADLINE_S = 10.0


class AwaitableNotifier:
    """Records notifications and lets the test await the next one of a kind."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self._changed = asyncio.Condition()

    async def send(self, notification: Notification) -> None:
        async with self._changed:
            self.sent.append(notification)
            self._changed.notify_all()

    async def wait_for(self, kind: str) -> Notification:
        async with asyncio.timeout(DEADLINE_S), self._changed:
            await self._changed.wait_for(lambda: any(n.kind == kind for n in self.sent))
        return next(n for n in self.sent if n.kind == kind)


async def _next(spy: MqttTestClient, channel: Channel, match: Any) -> Any:
    """Await (without blocking the loop) the next message on ``channel`` that ``match`` accepts."""
    models: dict[Channel, type[Message]] = {
        Channel.COMMANDS: SignedCommand,
        Channel.REPLIES: CommandReply,
        Channel.ANSWERS: KioskAnswer,
    }
    async with asyncio.timeout(DEADLINE_S):
        while True:
            try:
                message = await asyncio.to_thread(spy.messages.get, timeout=0.5)
            except queue.Empty:
                continue
            if not message.topic.endswith("/" + channel.value):
                continue
            decoded: Any = decode(models[channel], message.payload)
            if isinstance(decoded, SignedCommand):
                decoded = Command.model_validate_json(b64d(decoded.payload))
            if match(decoded):
                return decoded


def _document(code: str) -> dict[str, object]:
    return {
        "code": code,
        "case_number": f"E2E-{code}",
        "kind": "residence_permit_card",
        "contact_channel": "sms",
        "contact": "+49 151 2345 6789",
        "date_of_birth": DOB.isoformat(),
        "language": "uk",
    }


@pytest.fixture
def data_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stack builds its own settings; the data key reaches them through the environment.
    monkeypatch.setenv("DOCBOX_PICKUP_DATA_KEY", Fernet.generate_key().decode())


async def _start(system: System) -> tuple[AwaitableNotifier, MqttTestClient]:
    notifier = AwaitableNotifier()
    system.app.state.pickup.notifier = notifier
    system.box.auto_person(open_after_s=0.05, shut_after_s=0.2)
    host, port = system.broker_url.removeprefix("mqtt://").split(":")
    spy = MqttTestClient(host, int(port)).connect()
    for channel in (Channel.COMMANDS, Channel.REPLIES, Channel.ANSWERS):
        spy.subscribe(topic(BOX, channel))
    return notifier, spy


@pytest.mark.usefixtures("data_key")
async def test_register_load_notify_grant_and_audit(
    mosquitto: MosquittoServer, postgres_database: PostgresDatabase, tmp_path: Path
) -> None:
    async with running_system(
        database_url=postgres_database.url, mqtt_url=mosquitto.url, data_dir=tmp_path / "edge"
    ) as system:
        notifier, spy = await _start(system)
        try:
            created = await system.api.post("/api/v1/documents", json=_document("EAT-1"))
            assert created.status_code == 201, created.text

            loaded = await system.api.post(f"/api/v1/boxes/{BOX}/loads", json={"document_code": "EAT-1"})
            assert loaded.status_code == 200, loaded.text
            compartment = loaded.json()["compartment"]

            ready = await notifier.wait_for("pickup.ready")
            grants_command = await _next(spy, Channel.COMMANDS, lambda c: isinstance(c.body, GrantsAction))
            reply = await _next(spy, Channel.REPLIES, lambda r: r.command_id == grants_command.id)
        finally:
            spy.disconnect()

        # The unlock opened exactly that compartment, once; the simulated person shut it again.
        assert system.box.pulse_count(compartment) == 1
        assert not system.box.door_is_open(compartment)
        assert ready.to == "+4915123456789"
        pin = re.search(r"PIN: (\d{6})", ready.text)
        assert pin is not None, ready.text

        action: GrantsAction = grants_command.body
        [grant] = action.grants
        assert grant.compartment == compartment
        assert grant.login_hash == login_hash(action.lookup_salt, "0151 23456789")
        assert verify_secret(grant.secret_salt, grant.secret_hash, pin.group(1), DOB)
        assert reply.outcome is CommandOutcome.DONE
        stored = system.agent.grants.get(grant.grant_id)
        assert stored is not None

        document = (await system.api.get(f"/api/v1/documents/{created.json()['id']}")).json()
        assert document["status"] == "loaded"
        # "notified" is audited right after the notifier returned, which may be a moment after
        # the test's notifier woke it up: wait for it (the API offers no event to await).
        async with asyncio.timeout(10):
            while True:
                chain = (await system.api.get(f"/api/v1/documents/{document['id']}/audit")).json()
                actions = [e["action"] for e in chain]
                if "notified" in actions:
                    break
                await asyncio.sleep(0.05)
        assert actions[:2] == ["registered", "load_started"]
        assert {"opened", "shut", "loaded", "notified"} <= set(actions)
        verified = (await system.api.get("/api/v1/audit/verify")).json()
        assert verified["ok"] is True
        assert verified["checked"] >= len(chain)


@pytest.mark.usefixtures("data_key")
async def test_kiosk_staff_loading_over_mqtt(
    mosquitto: MosquittoServer, postgres_database: PostgresDatabase, tmp_path: Path
) -> None:
    async with running_system(
        database_url=postgres_database.url, mqtt_url=mosquitto.url, data_dir=tmp_path / "edge"
    ) as system:
        notifier, spy = await _start(system)
        try:
            await system.api.post("/api/v1/staff", json={"staff_id": "anna", "name": "Anna", "pin": "2468"})
            await system.api.post("/api/v1/documents", json=_document("EAT-2"))

            def request(pin: str, code: str) -> uuid.UUID:
                kiosk = KioskRequest(
                    id=uuid.uuid4(),
                    box_id=BOX,
                    at=utcnow(),
                    body=LoadRequest(staff_id="anna", staff_pin=pin, document_code=code),
                )
                spy.publish(topic(BOX, Channel.REQUESTS), codec.encode(kiosk))
                return kiosk.id

            wrong = request("1111", "EAT-2")
            refused = await _next(spy, Channel.ANSWERS, lambda a: a.request_id == wrong)
            unknown = request("2468", "NOPE")
            not_found = await _next(spy, Channel.ANSWERS, lambda a: a.request_id == unknown)
            good = request("2468", "EAT-2")
            unlock = await _next(
                spy,
                Channel.COMMANDS,
                lambda c: isinstance(c.body, UnlockAction) and c.body.request_id == good,
            )
            done = await _next(spy, Channel.ANSWERS, lambda a: a.request_id == good)
            await notifier.wait_for("pickup.ready")
        finally:
            spy.disconnect()

        assert (refused.ok, refused.code) == (False, "wrong_staff_pin")
        assert (not_found.ok, not_found.code) == (False, "unknown_document")
        assert (done.ok, done.code, done.compartment) == (True, "loaded", unlock.body.compartment)
        assert system.box.pulse_count(unlock.body.compartment) == 1
        grid = (await system.api.get(f"/api/v1/boxes/{BOX}/grid")).json()
        assert next(c for c in grid if c["number"] == unlock.body.compartment)["state"] == "loaded"
