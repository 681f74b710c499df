"""Baselines measured with bare paho-mqtt clients through the same broker in the same run."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def connect_client(host: str, port: int) -> mqtt.Client:
    """A connected paho client with TCP_NODELAY and its network thread running."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}")

    def nodelay(_c: mqtt.Client, _u: Any, sock: Any) -> None:
        # paho leaves Nagle on; the docbox clients turn it off, so the baseline must too.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    client.on_socket_open = nodelay
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not connected.wait(10):
        raise TimeoutError(f"no CONNACK from {host}:{port}")
    return client


def request_reply_rtts(host: str, port: int, count: int) -> list[float]:
    """QoS 1 request → QoS 1 reply round trips between two bare clients, in seconds."""
    topic = f"bench/{uuid.uuid4().hex[:8]}"
    responder, requester = connect_client(host, port), connect_client(host, port)
    got = threading.Event()
    ready = threading.Event()

    def echo(client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        client.publish(topic + "/reply", message.payload, qos=1)

    responder.on_message = echo
    requester.on_message = lambda _c, _u, _m: got.set()
    responder.on_subscribe = lambda *_a: ready.set()
    responder.subscribe(topic + "/request", qos=1)
    ready.wait(10)
    ready.clear()
    requester.on_subscribe = lambda *_a: ready.set()
    requester.subscribe(topic + "/reply", qos=1)
    ready.wait(10)
    samples = []
    try:
        for i in range(count):
            got.clear()
            started = time.perf_counter()
            requester.publish(topic + "/request", str(i), qos=1)
            if not got.wait(10):
                raise TimeoutError("baseline reply did not arrive")
            samples.append(time.perf_counter() - started)
    finally:
        for c in (responder, requester):
            c.disconnect()
            c.loop_stop()
    return samples


def count_messages(host: str, port: int, topic: str, expected: int, publish: Any) -> float:
    """Subscribe to ``topic``, call ``publish()``, return messages/s until ``expected`` arrived."""
    subscriber = connect_client(host, port)
    ready, done = threading.Event(), threading.Event()
    received = 0
    last = 0.0

    def on_message(_c: mqtt.Client, _u: Any, _m: mqtt.MQTTMessage) -> None:
        nonlocal received, last
        received += 1
        last = time.perf_counter()
        if received >= expected:
            done.set()

    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *_a: ready.set()
    subscriber.subscribe(topic, qos=1)
    ready.wait(10)
    started = time.perf_counter()
    try:
        publish()
        if not done.wait(300):
            raise TimeoutError(f"baseline received {received} of {expected}")
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()
    return expected / (last - started)
