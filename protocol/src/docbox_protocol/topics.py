"""The topic map: every MQTT topic of docbox and the one message model it carries.

Layout: ``docbox/v1/boxes/{box_id}/{channel}``. The version in the path is the protocol's
major version; the ``v`` field inside each message is the schema version of that payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from docbox_protocol.errors import TopicError
from docbox_protocol.messages import (
    BoxStatus,
    CommandReply,
    Event,
    KioskAnswer,
    KioskRequest,
    SignedCommand,
    StateSnapshot,
    Telemetry,
)

ROOT = "docbox/v1/boxes"
_BOX_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class Channel(StrEnum):
    """The last topic level: which stream of a box a topic carries."""

    STATUS = "status"
    EVENTS = "events"
    STATE = "state"
    TELEMETRY = "telemetry"
    COMMANDS = "commands"
    REPLIES = "replies"
    REQUESTS = "requests"
    ANSWERS = "answers"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How a channel is used on the wire."""

    channel: Channel
    model: type[BaseModel]
    qos: int
    retained: bool
    sender: str  # "edge" or "cloud"
    description: str


TOPIC_SPECS: dict[Channel, TopicSpec] = {
    spec.channel: spec
    for spec in (
        TopicSpec(
            Channel.STATUS,
            BoxStatus,
            1,
            True,
            "edge",
            "Birth (online, with the session counter) on connect; last will (offline) when the "
            "connection dies; an explicit offline on clean shutdown.",
        ),
        TopicSpec(
            Channel.EVENTS,
            Event,
            1,
            False,
            "edge",
            "Door, lock, command-result and alarm events from the durable outbox, in sequence "
            "order; redelivery is possible, the event id makes storage idempotent.",
        ),
        TopicSpec(
            Channel.STATE,
            StateSnapshot,
            1,
            True,
            "edge",
            "Snapshot of all compartments, at birth and when the cloud asks (after a gap).",
        ),
        TopicSpec(
            Channel.TELEMETRY,
            Telemetry,
            0,
            False,
            "edge",
            "Periodic health figures; a lost sample is simply replaced by the next.",
        ),
        TopicSpec(
            Channel.COMMANDS,
            SignedCommand,
            1,
            False,
            "cloud",
            "Ed25519-signed commands naming this box; the edge executes each id at most once.",
        ),
        TopicSpec(
            Channel.REPLIES,
            CommandReply,
            1,
            False,
            "edge",
            "The edge's answer to each command (opened, jammed, done or rejected with a reason).",
        ),
        TopicSpec(
            Channel.REQUESTS,
            KioskRequest,
            1,
            False,
            "edge",
            "Kiosk requests that need the cloud, such as staff loading a document.",
        ),
        TopicSpec(
            Channel.ANSWERS,
            KioskAnswer,
            1,
            False,
            "cloud",
            "The cloud's answers to kiosk requests that did not end in a signed unlock.",
        ),
    )
}


def topic(box_id: str, channel: Channel) -> str:
    """Return the topic of ``channel`` for ``box_id``.

    Raises:
        TopicError: if ``box_id`` is not a valid box id (it must never contain ``+``, ``#`` or ``/``).
    """
    if not _BOX_ID.fullmatch(box_id):
        raise TopicError(f"invalid box id {box_id!r}")
    return f"{ROOT}/{box_id}/{channel.value}"


def wildcard(channel: Channel) -> str:
    """Return the subscription filter matching ``channel`` of every box."""
    return f"{ROOT}/+/{channel.value}"


def shared(group: str, topic_filter: str) -> str:
    """Return an MQTT 5 shared-subscription filter (``$share/group/filter``)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", group):
        raise TopicError(f"invalid share group {group!r}")
    return f"$share/{group}/{topic_filter}"


def parse(topic_name: str) -> tuple[str, Channel]:
    """Split a concrete topic into ``(box_id, channel)``.

    Raises:
        TopicError: if the topic is not in the docbox topic map.
    """
    prefix = ROOT + "/"
    if not topic_name.startswith(prefix):
        raise TopicError(f"topic outside {ROOT}: {topic_name[:80]!r}")
    parts = topic_name[len(prefix) :].split("/")
    if len(parts) != 2:
        raise TopicError(f"topic has {len(parts)} levels below {ROOT}, expected 2")
    box_id, channel_name = parts
    if not _BOX_ID.fullmatch(box_id):
        raise TopicError(f"invalid box id in topic: {box_id[:64]!r}")
    try:
        channel = Channel(channel_name)
    except ValueError:
        raise TopicError(f"unknown channel {channel_name[:32]!r}") from None
    return box_id, channel
