"""The topic map: building, parsing and rejecting topics."""

import pytest

from docbox_protocol import TopicError
from docbox_protocol.topics import TOPIC_SPECS, Channel, parse, shared, topic, wildcard


def test_topic_round_trip_for_every_channel() -> None:
    for channel in Channel:
        assert parse(topic("box-7", channel)) == ("box-7", channel)


def test_every_channel_has_exactly_one_model() -> None:
    assert set(TOPIC_SPECS) == set(Channel)
    assert len({spec.model for spec in TOPIC_SPECS.values()}) == len(Channel)


@pytest.mark.parametrize("box_id", ["", "Box", "a/b", "+", "#", "a" * 64, "-lead"])
def test_invalid_box_ids_are_refused(box_id: str) -> None:
    with pytest.raises(TopicError):
        topic(box_id, Channel.EVENTS)


@pytest.mark.parametrize(
    "name",
    [
        "docbox/v1/boxes/box-1",
        "docbox/v1/boxes/box-1/events/extra",
        "docbox/v2/boxes/box-1/events",
        "docbox/v1/boxes/BOX/events",
        "docbox/v1/boxes/box-1/doors",
        "other/topic",
    ],
)
def test_parse_rejects_topics_outside_the_map(name: str) -> None:
    with pytest.raises(TopicError):
        parse(name)


def test_wildcards_and_shared_subscriptions() -> None:
    assert wildcard(Channel.EVENTS) == "docbox/v1/boxes/+/events"
    assert shared("ingest", wildcard(Channel.EVENTS)) == "$share/ingest/docbox/v1/boxes/+/events"
    with pytest.raises(TopicError):
        shared("bad/group", "x")


def test_qos_and_retain_flags_match_the_documented_contract() -> None:
    retained = {c for c, s in TOPIC_SPECS.items() if s.retained}
    assert retained == {Channel.STATUS, Channel.STATE}
    assert TOPIC_SPECS[Channel.TELEMETRY].qos == 0
    assert all(s.qos == 1 for c, s in TOPIC_SPECS.items() if c is not Channel.TELEMETRY)
