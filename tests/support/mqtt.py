"""A small blocking MQTT peer for tests (paho-mqtt 2.x, MQTT 3.1.1, TCP_NODELAY)."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

DEFAULT_TIMEOUT = 10.0


class MqttTestClient:
    """A paho client running its network loop in a thread, with blocking helpers.

    Every helper waits on an acknowledgement or a delivery with a deadline, so tests
    never sleep to synchronise. Received messages queue up in :attr:`messages`.

    Args:
        host: Broker host.
        port: Broker port.
        client_id: MQTT client id; needed for a persistent session.
        clean_session: False keeps the session (subscriptions, queued QoS 1
            messages) on the broker while the client is away.
        tls_context: Connect with TLS using this context (client certificate, CA).
        protocol: MQTT 3.1.1 (default) or 5 (for shared subscriptions).
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str = "",
        *,
        clean_session: bool = True,
        tls_context: ssl.SSLContext | None = None,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
    ) -> None:
        self.host = host
        self.port = port
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.session_present: bool | None = None
        self._connected = threading.Event()
        self._connect_failure: str | None = None
        self._subscribed: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            # MQTT 5 has clean_start on connect instead; paho refuses clean_session with it.
            clean_session=clean_session if protocol != MQTTProtocolVersion.MQTTv5 else None,
            protocol=protocol,
        )
        if tls_context is not None:
            self._client.tls_set_context(tls_context)
        self._client.on_socket_open = self._on_socket_open
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    @property
    def paho(self) -> mqtt.Client:
        """The underlying paho client."""
        return self._client

    # -- paho callbacks (network thread)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # paho leaves Nagle on, which adds ~40 ms to a QoS 1 round trip.
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: Any,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            self._connect_failure = str(reason_code)
        else:
            self.session_present = flags.session_present
        self._connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        # Closed before the CONNACK (a TLS 1.3 server refusing the client certificate does
        # that after the handshake): fail connect() at once instead of at its deadline.
        if not self._connected.is_set():
            self._connect_failure = f"connection closed before CONNACK ({reason_code})"
            self._connected.set()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any
    ) -> None:
        with self._lock:
            event = self._subscribed.setdefault(mid, threading.Event())
        event.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put(message)

    # -- blocking API

    def connect(self, timeout: float = DEFAULT_TIMEOUT) -> Self:
        """Connect and wait for the CONNACK."""
        self._connected.clear()
        self._connect_failure = None
        self._client.connect(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(timeout):
            raise TimeoutError(f"no CONNACK from {self.host}:{self.port} within {timeout} s")
        if self._connect_failure is not None:
            raise ConnectionError(f"connection refused: {self._connect_failure}")
        return self

    def subscribe(self, topic: str, qos: int = 1, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Subscribe and wait for the SUBACK."""
        with self._lock:
            result, mid = self._client.subscribe(topic, qos)
            if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
                raise ConnectionError(f"subscribe failed: {mqtt.error_string(result)}")
            event = self._subscribed.setdefault(mid, threading.Event())
        if not event.wait(timeout):
            raise TimeoutError(f"no SUBACK for {topic!r} within {timeout} s")

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """Publish and, for QoS > 0, wait for the broker's acknowledgement."""
        info = self._client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise TimeoutError(f"publish to {topic!r} not acknowledged within {timeout} s")

    def expect_message(self, timeout: float = DEFAULT_TIMEOUT) -> mqtt.MQTTMessage:
        """Return the next received message; raise TimeoutError if none comes in time."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no message within {timeout} s") from None

    def disconnect(self) -> None:
        """Disconnect cleanly and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Self:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()
