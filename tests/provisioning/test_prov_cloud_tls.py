"""The cloud bridge with its generated identity (cloud.env) against the generated broker setup:
it connects over TLS, ingests an event of a certificate-authenticated box, and the box verifies
the bridge's commands with the public key from its bundle."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path
from typing import Literal

import aiomqtt
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.bridge import MqttBridge, ensure_opened
from docbox_cloud.db import create_engine, session_factory, transaction
from docbox_cloud.migrate import migrate_async
from docbox_cloud.models import Event as EventRow
from docbox_cloud.settings import CloudSettings
from docbox_protocol import codec
from docbox_protocol.messages import CommandOutcome, DoorOpened
from docbox_protocol.signing import load_public_key
from docbox_protocol.tls import bundle_context
from docbox_protocol.topics import Channel, topic
from docbox_provisioning.bundles import public_key_name
from docbox_provisioning.state import load_state
from tests.cloud.factories import add_box, make_event
from tests.cloud.mqtt_peers import FakeEdge, answer_with
from tests.provisioning.helpers import BOX_A, PkiFolder, StartBroker

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
DEADLINE_S = 10.0


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    """A migrated SQLite database with box-a registered (3 compartments)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'docbox.db'}"
    await migrate_async(url)
    engine = create_engine(url)
    factory = session_factory(engine)
    await add_box(factory, BOX_A)
    yield factory
    await engine.dispose()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_the_bridge_ingests_and_commands_a_box_over_tls(
    session_pki: PkiFolder, start_broker: StartBroker, sessions: Sessions, protocol: Literal["3.1.1", "5"]
) -> None:
    start_broker(session_pki)
    settings = CloudSettings(
        _env_file=session_pki.cloud() / "cloud.env",  # DOCBOX_MQTT_URL, TLS files, signing key
        database_url="sqlite+aiosqlite:///unused.db",
        api_token="test-token-0123456789",
        mqtt_protocol=protocol,
    )
    assert settings.mqtt_url == f"mqtts://127.0.0.1:{session_pki.port}"
    bridge = MqttBridge(settings, sessions)
    bridge_task = asyncio.create_task(bridge.run())
    bundle = session_pki.bundle(BOX_A)
    kid = load_state(session_pki.layout.state).signing.active
    public_key = load_public_key((bundle / public_key_name(kid)).read_bytes())
    try:
        async with asyncio.timeout(DEADLINE_S):
            await bridge.connected.wait()
        async with aiomqtt.Client(
            "127.0.0.1",
            session_pki.port,
            tls_context=bundle_context(bundle),
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        ) as box:
            edge = FakeEdge(box, BOX_A, public_key, answer_with(CommandOutcome.OPENED))
            await edge.subscribe()
            serve = asyncio.create_task(edge.serve())
            try:
                event = make_event(1, DoorOpened(compartment=2), box_id=BOX_A)
                await box.publish(topic(BOX_A, Channel.EVENTS), codec.encode(event), qos=1)
                async with asyncio.timeout(DEADLINE_S):
                    await bridge.stats.wait_until(lambda s: s["stored"] >= 1)
                reply = ensure_opened(await bridge.open_compartment(BOX_A, 1))
            finally:
                serve.cancel()
                with suppress(asyncio.CancelledError):
                    await serve
        assert reply.box_id == BOX_A
        assert [c.body.action for c in edge.commands] == ["unlock"]
        async with transaction(sessions) as session:
            stored = list(await session.scalars(select(EventRow.event_id).where(EventRow.box_id == BOX_A)))
        assert stored == [event.id]
    finally:
        bridge_task.cancel()
        with suppress(asyncio.CancelledError):
            await bridge_task
