"""The whole system for end-to-end tests: the cloud on a real HTTP socket, one simulated box."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from docbox_cloud.api.app import create_app
from docbox_cloud.api.server import EmbeddedServer
from docbox_cloud.bridge import MqttBridge
from docbox_cloud.settings import CloudSettings
from docbox_edge.agent import EdgeAgent, EdgeSettings
from docbox_edge.boxconfig import BoxConfig, generate_simulated_config
from docbox_edge.hardware.box import build_hardware
from docbox_edge.hardware.mockpins import ExtendedMockFactory
from docbox_edge.hardware.simulated import SimulatedBox
from docbox_protocol.signing import generate_private_key, private_key_pem, public_key_pem


@dataclass
class System:
    """Handles on every running part."""

    api: httpx.AsyncClient
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


@contextlib.asynccontextmanager
async def running_system(
    *,
    database_url: str,
    mqtt_url: str,
    data_dir: Path,
    box_id: str = "box-e2e",
    compartments: int = 8,
) -> AsyncIterator[System]:
    """Start cloud (uvicorn on a free port) and edge; register the box; wait until ready."""
    key = generate_private_key()
    token = secrets.token_urlsafe(16)
    settings = CloudSettings(
        database_url=database_url,
        mqtt_url=mqtt_url,
        mqtt_client_id="cloud-e2e",
        signing_key_pem=SecretStr(private_key_pem(key).decode()),
        api_token=SecretStr(token),
        command_timeout_s=10,
    )
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = EmbeddedServer(app)
    server_task = asyncio.create_task(server.serve(sockets=[sock]))
    host, port = sock.getsockname()

    config = generate_simulated_config(box_id, count=compartments)
    factory = ExtendedMockFactory()
    hardware = build_hardware(config, factory)
    box = SimulatedBox(config, factory)
    broker_host, broker_port = mqtt_url.removeprefix("mqtt://").rsplit(":", 1)
    agent = EdgeAgent(
        EdgeSettings(
            box=config,
            broker_host=broker_host,
            broker_port=int(broker_port),
            data_dir=data_dir,
            public_keys=(public_key_pem(key.public_key()).decode(),),
            telemetry_interval_s=0,
        ),
        hardware,
    )
    api = httpx.AsyncClient(
        base_url=f"http://{host}:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=20
    )
    agent_task: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(20):
            await server.ready.wait()
            created = await api.post("/api/v1/boxes", json={"box_id": box_id, "name": "E2E box"})
            assert created.status_code == 201, created.text
            bridge: MqttBridge = app.state.bridge
            await bridge.connected.wait()
            agent_task = asyncio.create_task(agent.run())
            await agent.connected.wait()
            # The birth snapshot creates the compartments in the cloud.
            await bridge.stats.wait_until(lambda s: s["snapshot"] >= 1)
        yield System(api, app, agent, box, config, factory)
    finally:
        server.should_exit = True
        await server_task
        if agent_task is not None:
            agent_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await agent_task
        agent.close()
        box.close()
        await api.aclose()
        sock.close()
