"""The MQTT client the bridge uses: aiomqtt with manual acknowledgements and TCP_NODELAY.

aiomqtt 2.5.1 (the installed version) has no manual-ack option: its paho ``on_message``
callback only puts the message on a queue, and paho then sends the PUBACK right away, before
the application has even looked at the message. A database failure (or a crash) after that
would lose a QoS 1 event although the broker was told it arrived. paho-mqtt 2.x itself
supports manual acknowledgement (``Client.manual_ack_set(True)`` + ``Client.ack(mid, qos)``),
so :class:`ManualAckClient` switches it on for aiomqtt's underlying paho client and exposes
:meth:`ManualAckClient.ack`. The bridge acks a message only after its transaction committed;
an unacked message is redelivered by the broker when the persistent session reconnects.
MQTT requires PUBACKs in the order the PUBLISHes arrived, which holds because the bridge
handles messages one at a time.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from docbox_cloud.errors import ConfigError
from docbox_cloud.settings import CloudSettings, MqttEndpoint, parse_mqtt_url

#: Nagle's algorithm adds ~40 ms to every request/reply round trip (see DESIGN.md).
TCP_NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ManualAckClient(aiomqtt.Client):
    """An aiomqtt client that acknowledges received QoS 1/2 messages only when told to."""

    def __init__(self, hostname: str, port: int, **kwargs: Any) -> None:
        super().__init__(hostname, port, **kwargs)
        # aiomqtt keeps its paho client private; manual acks are a documented paho feature.
        self._client.manual_ack_set(True)

    def ack(self, message: aiomqtt.Message) -> None:
        """Acknowledge ``message`` to the broker (a no-op for QoS 0).

        Raises:
            aiomqtt.MqttCodeError: if the acknowledgement cannot be queued (disconnected).
        """
        if message.qos == 0:
            return
        rc = self._client.ack(message.mid, message.qos)
        if rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(rc, "could not acknowledge message")


def build_client(settings: CloudSettings) -> ManualAckClient:
    """Create (but do not connect) the bridge's client for ``settings.mqtt_url``.

    The session is persistent: ``clean_session=False`` with MQTT 3.1.1, and with MQTT 5
    ``clean_start=False`` plus a session expiry interval, so that messages arriving while the
    bridge reconnects are kept by the broker.

    Raises:
        ConfigError: if ``mqtt_url`` is unset or TLS files cannot be loaded.
    """
    if not settings.mqtt_url:
        raise ConfigError("mqtt_url is not set")
    endpoint = parse_mqtt_url(settings.mqtt_url)
    kwargs: dict[str, Any] = {
        "identifier": settings.mqtt_client_id,
        "socket_options": [TCP_NODELAY],
        "keepalive": 30,
    }
    if endpoint.username is not None:
        kwargs["username"] = endpoint.username
        kwargs["password"] = endpoint.password.get_secret_value() if endpoint.password else None
    if endpoint.tls:
        kwargs["tls_context"] = _tls_context(settings)
    if settings.mqtt_protocol == "5":
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = settings.mqtt_session_expiry_s
        kwargs.update(protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=properties)
    else:
        kwargs.update(protocol=aiomqtt.ProtocolVersion.V311, clean_session=False)
    return ManualAckClient(endpoint.host, endpoint.port, **kwargs)


def describe_endpoint(settings: CloudSettings) -> str:
    """``host:port`` of the broker, for log messages (never the credentials)."""
    endpoint: MqttEndpoint = parse_mqtt_url(settings.mqtt_url or "")
    return f"{endpoint.host}:{endpoint.port}"


def _tls_context(settings: CloudSettings) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(
            cafile=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None
        )
        if settings.mqtt_cert_file is not None:
            context.load_cert_chain(
                str(settings.mqtt_cert_file),
                str(settings.mqtt_key_file) if settings.mqtt_key_file else None,
            )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot set up MQTT TLS: {exc}") from exc
    return context
