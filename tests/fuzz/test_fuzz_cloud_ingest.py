"""Hostile messages on the topics the cloud subscribes to: logged and skipped, nothing stored.

The bridge's message handler gets raw bytes, arbitrary JSON, objects shaped like each model,
and valid messages with one field mutated. A payload that does not decode must change no
row; nothing may log an error (the autouse guard fails the test on any ERROR record, which
is how the bridge reports an unexpected exception).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import aiomqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr
from sqlalchemy import func, select

from docbox_cloud import boxes
from docbox_cloud.bridge import MqttBridge
from docbox_cloud.db import create_engine, session_factory, transaction
from docbox_cloud.migrate import migrate_async
from docbox_cloud.models import Event as EventRow
from docbox_cloud.settings import CloudSettings
from docbox_protocol import MessageError, decode, encode
from docbox_protocol.messages import BoxState, BoxStatus, DoorClosed, Event, utcnow
from docbox_protocol.signing import generate_private_key, private_key_pem
from docbox_protocol.topics import TOPIC_SPECS, Channel, topic
from tests.fuzz.loop_thread import LoopThread
from tests.fuzz.strategies import FUZZ, json_bytes, json_values, mutate_json, objects_with_keys

BOX = "box-fuzz"


@dataclass
class Target:
    loop: LoopThread
    bridge: MqttBridge

    def handle(self, topic_name: str, payload: bytes) -> None:
        message = aiomqtt.Message(topic_name, payload, qos=1, retain=False, mid=1, properties=None)
        self.loop.run(self.bridge._handle(message))

    def stored_events(self) -> int:
        async def count() -> int:
            async with transaction(self.bridge._sessions) as session:
                return int(await session.scalar(select(func.count()).select_from(EventRow)) or 0)

        return self.loop.run(count())


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    loop = LoopThread()
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cloud-fuzz') / 'cloud.db'}"
    settings_ = CloudSettings(
        database_url=url,
        mqtt_url="mqtt://127.0.0.1:1",  # never connected: the handler is driven directly
        signing_key_pem=SecretStr(private_key_pem(generate_private_key()).decode()),
        api_token=SecretStr("fuzz-token"),
    )

    engine = create_engine(url)

    async def make() -> MqttBridge:
        await migrate_async(url)
        sessions = session_factory(engine)
        async with transaction(sessions) as session:
            await boxes.register_box(session, BOX, "fuzz box")
        return MqttBridge(settings_, sessions)

    bridge = loop.run(make())
    try:
        yield Target(loop, bridge)
    finally:
        loop.run(engine.dispose())
        loop.close()


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


@st.composite
def hostile(draw: st.DrawFn) -> tuple[str, bytes]:
    channel = draw(st.sampled_from(list(TOPIC_SPECS)))
    model = TOPIC_SPECS[channel].model
    # Any name a broker could deliver (aiomqtt refuses empty names and wildcards itself).
    random_name = st.text(min_size=1, max_size=60).filter(lambda t: "+" not in t and "#" not in t)
    name = draw(st.just(topic(BOX, channel)) | random_name)
    payload = draw(st.binary(max_size=300) | json_bytes(json_values) | objects_with_keys(_field_names(model)))
    return name, payload


def _valid_event(seq: int) -> bytes:
    return encode(
        Event(id=uuid.uuid4(), box_id=BOX, session=1, seq=seq, at=utcnow(), data=DoorClosed(compartment=1))
    )


def _decodes(channel: Channel | None, payload: bytes) -> bool:
    """Whether the bridge should accept ``payload``: it decodes and names the topic's box."""
    if channel is None:
        return False
    try:
        message = decode(TOPIC_SPECS[channel].model, payload)
    except MessageError:
        return False
    return getattr(message, "box_id", BOX) == BOX


@FUZZ
@given(message=hostile())
def test_fuzz_hostile_messages_are_skipped(target: Target, message: tuple[str, bytes]) -> None:
    name, payload = message
    before = target.stored_events()
    target.handle(name, payload)
    channel = next((c for c in Channel if name == topic(BOX, c)), None)
    if not (channel is Channel.EVENTS and _decodes(channel, payload)):
        assert target.stored_events() == before


@FUZZ
@given(data=st.data())
def test_fuzz_mutated_events_store_only_what_decodes(target: Target, data: st.DataObject) -> None:
    raw = _valid_event(seq=data.draw(st.integers(1, 10_000)))
    mutated = mutate_json(raw, data)
    before = target.stored_events()
    target.handle(topic(BOX, Channel.EVENTS), mutated)
    expected = before + (1 if _decodes(Channel.EVENTS, mutated) else 0)
    assert target.stored_events() == expected


def test_a_valid_event_and_status_are_still_handled_after_fuzzing(target: Target) -> None:
    """Guard against a vacuous fuzz: the same handler stores a genuine event."""
    before = target.stored_events()
    target.handle(topic(BOX, Channel.EVENTS), _valid_event(seq=20_000))
    assert target.stored_events() == before + 1
    status = BoxStatus(box_id=BOX, state=BoxState.ONLINE, session=1, at=utcnow())
    target.handle(topic(BOX, Channel.STATUS), encode(status))
    assert target.bridge.stats["status"] >= 1
