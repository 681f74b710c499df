"""The whole system in one asyncio program: broker (optional), cloud API + bridge, one simulated box.

Used by ``docbox demo``, the benchmarks and the end-to-end tests, so that all three run the
same composition. Against real services, pass ``mqtt_url`` and ``database_url``; without them
an embedded amqtt broker and SQLite are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from docbox_cloud.api.app import create_app
from docbox_cloud.api.server import EmbeddedServer
from docbox_cloud.bridge import MqttBridge
from docbox_cloud.settings import CloudSettings
from docbox_demo.broker import EmbeddedBroker
from docbox_edge.agent import EdgeAgent, EdgeSettings, parse_broker_url
from docbox_edge.boxconfig import BoxConfig, generate_simulated_config
from docbox_edge.hardware.box import build_hardware
from docbox_edge.hardware.mockpins import ExtendedMockFactory
from docbox_edge.hardware.simulated import SimulatedBox
from docbox_protocol.signing import generate_private_key, private_key_pem, public_key_pem


@dataclass(frozen=True, slots=True)
class StackOptions:
    """How to compose the stack."""

    data_dir: Path
    host: str = "127.0.0.1"
    http_port: int = 0
    mqtt_url: str | None = None  # None: an embedded amqtt broker on mqtt_port
    mqtt_port: int = 0
    database_url: str | None = None  # None: SQLite in data_dir
    box_id: str = "demo-box"
    box_name: str = "Demo box"
    compartments: int = 500
    telemetry_interval_s: float = 0.0
    command_timeout_s: float = 15.0
    cloud_client_id: str = "docbox-cloud"
    kiosk_port: int = 0  # the box's touchscreen UI; 0: any free port
    #: Further CloudSettings fields (already of their field types), e.g. notification gateways.
    cloud_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stack:
    """Handles on every running part."""

    api: httpx.AsyncClient
    api_url: str
    broker_url: str
    api_token: str
    app: FastAPI
    agent: EdgeAgent
    box: SimulatedBox
    config: BoxConfig
    factory: ExtendedMockFactory

    @property
    def bridge(self) -> MqttBridge:
        """The cloud's MQTT bridge (started by the app)."""
        bridge: MqttBridge = self.app.state.bridge
        return bridge


def listen_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket on ``port``, or on a free port if that one is taken or 0."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.bind((host, 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def free_port(host: str, preferred: int) -> int:
    """Return ``preferred`` if it can be bound now, else a free port."""
    with contextlib.closing(listen_socket(host, preferred)) as sock:
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def running_stack(options: StackOptions) -> AsyncIterator[Stack]:
    """Start broker (if embedded), cloud and box; register the box; yield once all is ready.

    On exit the parts stop in an order that lets in-flight work finish: the cloud first
    (uvicorn waits for open requests, which need the box), then the box, then the broker.
    """
    options.data_dir.mkdir(parents=True, exist_ok=True)
    # Secrets exist only in this process: a fresh signing key and API token per run.
    signing_key = generate_private_key()
    api_token = secrets.token_urlsafe(24)

    broker: EmbeddedBroker | None = None
    mqtt_url = options.mqtt_url
    if mqtt_url is None:
        broker = EmbeddedBroker(options.host, free_port(options.host, options.mqtt_port))
        mqtt_url = broker.url
    http_sock = listen_socket(options.host, options.http_port)
    api_url = f"http://{options.host}:{http_sock.getsockname()[1]}"
    settings = CloudSettings(
        database_url=options.database_url or f"sqlite+aiosqlite:///{options.data_dir / 'cloud.db'}",
        mqtt_url=mqtt_url,
        mqtt_client_id=options.cloud_client_id,
        signing_key_pem=SecretStr(private_key_pem(signing_key).decode()),
        api_token=SecretStr(api_token),
        command_timeout_s=options.command_timeout_s,
    )
    if options.cloud_overrides:
        settings = settings.model_copy(update=options.cloud_overrides)
    app = create_app(settings)
    server = EmbeddedServer(app)

    config = generate_simulated_config(options.box_id, count=options.compartments)
    factory = ExtendedMockFactory()
    hardware = build_hardware(config, factory)
    box = SimulatedBox(config, factory)
    broker_host, broker_port = parse_broker_url(mqtt_url)
    agent = EdgeAgent(
        EdgeSettings(
            box=config,
            broker_host=broker_host,
            broker_port=broker_port,
            data_dir=options.data_dir / "edge",
            public_keys=(public_key_pem(signing_key.public_key()).decode(),),
            telemetry_interval_s=options.telemetry_interval_s,
            kiosk_host=options.host,
            kiosk_port=free_port(options.host, options.kiosk_port) if options.kiosk_port else 0,
        ),
        hardware,
    )
    api = httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {api_token}"}, timeout=60)
    server_task: asyncio.Task[None] | None = None
    agent_task: asyncio.Task[None] | None = None
    try:
        if broker is not None:
            await broker.start()
        server_task = asyncio.create_task(server.serve(sockets=[http_sock]), name="docbox-cloud")
        async with asyncio.timeout(30):
            await _first(server.ready.wait(), server_task)
            response = await api.post(
                "/api/v1/boxes", json={"box_id": options.box_id, "name": options.box_name}
            )
            if response.status_code not in (201, 409):
                raise RuntimeError(
                    f"cannot register box {options.box_id}: {response.status_code} {response.text}"
                )
            bridge: MqttBridge = app.state.bridge
            await bridge.connected.wait()
            agent_task = asyncio.create_task(agent.run(), name="docbox-edge")
            await _first(agent.connected.wait(), agent_task)
            await _first(agent.kiosk_ready.wait(), agent_task)
            # The box's birth snapshot creates its compartments in the cloud.
            await bridge.stats.wait_until(lambda s: s["snapshot"] >= 1)
        yield Stack(api, api_url, mqtt_url, api_token, app, agent, box, config, factory)
    finally:
        server.should_exit = True
        if server_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await server_task
        if agent_task is not None:
            agent_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await agent_task
        agent.close()
        box.close()
        await api.aclose()
        if broker is not None:
            await broker.stop()
        http_sock.close()


async def _first(wait: Coroutine[Any, Any, Any], task: asyncio.Task[None]) -> None:
    """Await ``wait`` but fail at once if ``task`` ends first (it crashed during start-up)."""
    waiter = asyncio.ensure_future(wait)
    done, _ = await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()
        raise RuntimeError(f"{task.get_name()} stopped during start-up")
