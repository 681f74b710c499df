"""Isolation against a real Mosquitto started with the generated docbox.conf and ACL.

Isolation is judged by what is delivered, never by the SUBACK: Mosquitto grants a forbidden
subscription and then delivers nothing. Each check ends with a sentinel message published
after the forbidden ones; Mosquitto queues messages for a subscriber in the order it processed
the publishes, so a forbidden message that got through would arrive before the sentinel.
"""

from __future__ import annotations

import socket
import ssl

import pytest

from docbox_protocol.tls import TlsFiles, bundle_context, client_context
from docbox_protocol.topics import TOPIC_SPECS, Channel, shared, topic, wildcard
from docbox_provisioning.broker_config import box_channels
from tests.provisioning.helpers import (
    BOX_A,
    BOX_B,
    PkiFolder,
    StartBroker,
    assert_refused,
    box_client,
    cloud_client,
    wait_for_log,
)
from tests.support.mqtt import MqttTestClient
from tests.support.ports import LOOPBACK

pytestmark = pytest.mark.integration

EDGE_CHANNELS = [Channel(c) for c in box_channels("edge")]
CLOUD_CHANNELS = [Channel(c) for c in box_channels("cloud")]


def first_message(client: MqttTestClient) -> tuple[str, bytes]:
    """The next message's topic and payload."""
    message = client.expect_message()
    return message.topic, bytes(message.payload)


def test_the_acl_covers_every_channel_of_the_protocol() -> None:
    # The tests below walk these lists; a channel with another sender would escape them.
    assert set(EDGE_CHANNELS) | set(CLOUD_CHANNELS) == set(TOPIC_SPECS)
    assert Channel.COMMANDS in CLOUD_CHANNELS
    assert Channel.EVENTS in EDGE_CHANNELS


def test_a_box_receives_its_own_commands_and_nothing_of_another_box(
    session_pki: PkiFolder, start_broker: StartBroker
) -> None:
    start_broker(session_pki)
    with (
        cloud_client(session_pki) as cloud,
        box_client(session_pki, BOX_A) as a,
        box_client(session_pki, BOX_B) as b,
    ):
        # All granted in the SUBACK; what counts is what arrives.
        for spy in ("#", "docbox/#", wildcard(Channel.COMMANDS), topic(BOX_B, Channel.COMMANDS)):
            a.subscribe(spy)
        a.subscribe(shared("spy", topic(BOX_B, Channel.COMMANDS)))
        b.subscribe(topic(BOX_B, Channel.COMMANDS))
        for channel in CLOUD_CHANNELS:
            cloud.publish(topic(BOX_B, channel), f"for box-b on {channel}".encode())
        cloud.publish(topic(BOX_A, Channel.COMMANDS), b"for box-a")

        # Box B got its command: it was published and routed ...
        assert first_message(b) == (topic(BOX_B, Channel.COMMANDS), b"for box-b on commands")
        # ... but box A's first message is the one for A, published after B's.
        assert first_message(a) == (topic(BOX_A, Channel.COMMANDS), b"for box-a")


def test_a_box_cannot_publish_into_another_box_topics(
    session_pki: PkiFolder, start_broker: StartBroker
) -> None:
    start_broker(session_pki)
    with (
        cloud_client(session_pki) as cloud,
        box_client(session_pki, BOX_A) as a,
        box_client(session_pki, BOX_B) as b,
    ):
        for channel in EDGE_CHANNELS:
            cloud.subscribe(wildcard(channel))
        b.subscribe(topic(BOX_B, Channel.COMMANDS))
        # Forged events, status, replies ... of box B, and a forged command to box B. MQTT 3.1.1
        # acknowledges a denied publish like any other, so each returns normally.
        for channel in Channel:
            a.publish(topic(BOX_B, channel), b"forged by box-a")
        a.publish(topic(BOX_A, Channel.EVENTS), b"box-a's own event")
        cloud.publish(topic(BOX_B, Channel.COMMANDS), b"real command")

        assert first_message(cloud) == (topic(BOX_A, Channel.EVENTS), b"box-a's own event")
        assert first_message(b) == (topic(BOX_B, Channel.COMMANDS), b"real command")


def test_a_box_publishes_every_stream_of_its_own_to_the_cloud(
    session_pki: PkiFolder, start_broker: StartBroker
) -> None:
    start_broker(session_pki)
    with cloud_client(session_pki) as cloud, box_client(session_pki, BOX_A) as a:
        # As the cloud ingests under MQTT 5: shared subscriptions ($share/<group>/...).
        for channel in EDGE_CHANNELS:
            cloud.subscribe(shared("ingest", wildcard(channel)))
        for channel in EDGE_CHANNELS:
            a.publish(topic(BOX_A, channel), channel.value.encode())
        received = {first_message(cloud) for _ in EDGE_CHANNELS}
    assert received == {(topic(BOX_A, c), c.value.encode()) for c in EDGE_CHANNELS}


def test_another_box_client_id_does_not_take_over_that_box_session(
    session_pki: PkiFolder, start_broker: StartBroker
) -> None:
    broker = start_broker(session_pki)
    with cloud_client(session_pki) as cloud, box_client(session_pki, BOX_B, client_id=BOX_B) as b:
        b.subscribe(topic(BOX_B, Channel.COMMANDS))
        # Box A connects with box B's client id; the broker makes the client id the CN.
        with box_client(session_pki, BOX_A, client_id=BOX_B):
            cloud.publish(topic(BOX_B, Channel.COMMANDS), b"still reaches box-b")
            assert first_message(b) == (topic(BOX_B, Channel.COMMANDS), b"still reaches box-b")
        assert b.paho.is_connected()
    assert "already connected" not in broker.log_text()


def test_a_connection_without_a_certificate_is_refused(
    session_pki: PkiFolder, start_broker: StartBroker
) -> None:
    broker = start_broker(session_pki)
    context = ssl.create_default_context(cafile=str(session_pki.layout.ca / "ca.crt"))
    assert_refused(MqttTestClient(LOOPBACK, session_pki.port, tls_context=context))
    wait_for_log(broker, "peer did not return a certificate")


def test_a_certificate_from_an_unknown_ca_is_refused(
    session_pki: PkiFolder, foreign_pki: PkiFolder, start_broker: StartBroker
) -> None:
    broker = start_broker(session_pki)
    # Same CN box-a, issued by another CA; the client trusts the right CA for the broker.
    assert_refused(box_client(foreign_pki, BOX_A, trust=session_pki, port=session_pki.port))
    wait_for_log(broker, "certificate verify failed")
    with box_client(session_pki, BOX_A):
        pass  # the genuine certificate is accepted


def test_a_box_refuses_a_broker_whose_certificate_is_from_another_ca(
    session_pki: PkiFolder, foreign_pki: PkiFolder, start_broker: StartBroker
) -> None:
    start_broker(session_pki)
    # The box's own certificate, but the trust anchor of another PKI: as if someone else's
    # broker answered. (A plain socket: paho leaks the socket of a failed handshake.)
    bundle = TlsFiles.in_bundle(session_pki.bundle(BOX_A))
    context = client_context(TlsFiles(foreign_pki.layout.ca / "ca.crt", bundle.cert_file, bundle.key_file))
    with (
        socket.create_connection((LOOPBACK, session_pki.port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"),
    ):
        context.wrap_socket(raw, server_hostname=LOOPBACK)
    # With its own CA, the same box verifies the broker.
    with (
        socket.create_connection((LOOPBACK, session_pki.port), timeout=10) as raw,
        bundle_context(session_pki.bundle(BOX_A)).wrap_socket(raw, server_hostname=LOOPBACK) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
