"""``docbox demo``: the whole system in one process on embedded defaults.

An amqtt broker, the cloud on SQLite, one simulated box (the real gpiozero driver on mock pins
with simulated doors) and simulated people. The same cloud and edge code runs against
Mosquitto and PostgreSQL when they are configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import secrets
import signal
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from docbox_cloud.api.app import create_app
from docbox_cloud.api.server import EmbeddedServer
from docbox_cloud.settings import CloudSettings
from docbox_demo.broker import EmbeddedBroker
from docbox_demo.people import applicants, vandal
from docbox_edge.agent import EdgeAgent, EdgeSettings
from docbox_edge.boxconfig import generate_simulated_config
from docbox_edge.hardware.box import build_hardware
from docbox_edge.hardware.mockpins import ExtendedMockFactory
from docbox_edge.hardware.simulated import SimulatedBox
from docbox_protocol.signing import generate_private_key, private_key_pem, public_key_pem

log = logging.getLogger("docbox.demo")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``docbox demo`` can be told."""

    host: str = "127.0.0.1"
    http_port: int = 8000
    mqtt_port: int = 1883
    box_id: str = "demo-box"
    compartments: int = 500
    data_dir: Path | None = None
    applicant_interval_s: float = 6.0
    vandal_interval_s: float = 90.0
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class DemoInfo:
    """Where the running demo can be reached."""

    api_url: str
    broker_url: str
    api_token: str
    box_id: str
    data_dir: Path


def listen_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket on ``port``, or on a free port if that one is taken or 0."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            sock.close()
            raise
        log.info("port %d is taken; using a free one", port)
        sock.bind((host, 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def free_port(host: str, preferred: int) -> int:
    """Return ``preferred`` if it can be bound now, else a free port."""
    with contextlib.closing(listen_socket(host, preferred)) as sock:
        port: int = sock.getsockname()[1]
        return port


async def run_demo(options: DemoOptions, on_ready: Callable[[DemoInfo], None]) -> None:
    """Run the demo until cancelled; call ``on_ready`` once everything is up."""
    # Ctrl-C and SIGTERM (a service manager, `kill`) both stop the demo cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="docbox-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(options.seed)

    # Secrets exist only in this process: a fresh signing key and API token per run.
    signing_key = generate_private_key()
    api_token = secrets.token_urlsafe(24)

    broker = EmbeddedBroker(options.host, free_port(options.host, options.mqtt_port))
    http_sock = listen_socket(options.host, options.http_port)
    api_url = f"http://{options.host}:{http_sock.getsockname()[1]}"
    settings = CloudSettings(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'cloud.db'}",
        mqtt_url=broker.url,
        mqtt_client_id="docbox-cloud-demo",
        signing_key_pem=SecretStr(private_key_pem(signing_key).decode()),
        api_token=SecretStr(api_token),
    )
    server = EmbeddedServer(create_app(settings))

    box_config = generate_simulated_config(options.box_id, count=options.compartments)
    factory = ExtendedMockFactory()
    hardware = build_hardware(box_config, factory)
    simulated = SimulatedBox(box_config, factory)
    simulated.auto_person(open_after_s=0.8, shut_after_s=4.0)
    agent = EdgeAgent(
        EdgeSettings(
            box=box_config,
            broker_host=broker.host,
            broker_port=broker.port,
            data_dir=data_dir / "edge",
            public_keys=(public_key_pem(signing_key.public_key()).decode(),),
            telemetry_interval_s=10.0,
        ),
        hardware,
    )

    tasks: list[asyncio.Task[None]] = []
    api = httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {api_token}"}, timeout=30)
    try:
        await broker.start()
        tasks.append(asyncio.create_task(server.serve(sockets=[http_sock]), name="demo-cloud"))
        await asyncio.wait_for(server.ready.wait(), timeout=30)
        response = await api.post("/api/v1/boxes", json={"box_id": options.box_id, "name": "Demo box"})
        if response.status_code not in (201, 409):
            raise RuntimeError(f"could not register the demo box: {response.status_code} {response.text}")
        tasks.append(asyncio.create_task(agent.run(), name="demo-edge"))
        await asyncio.wait_for(agent.connected.wait(), timeout=15)
        # The box's birth snapshot creates the compartments in the cloud.
        await _until_compartments(api, options.box_id, options.compartments)
        numbers = list(box_config_numbers(options.compartments))
        tasks.append(
            asyncio.create_task(
                applicants(api, simulated, options.box_id, numbers, options.applicant_interval_s, rng),
                name="demo-applicants",
            )
        )
        tasks.append(
            asyncio.create_task(
                vandal(simulated, numbers, options.vandal_interval_s, rng), name="demo-vandal"
            )
        )
        on_ready(DemoInfo(api_url, broker.url, api_token, options.box_id, data_dir))
        # Runs until a signal; a crashed part ends the demo with its error.
        stopper = asyncio.create_task(stop.wait(), name="demo-stop")
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        for task in done:
            if task is not stopper:
                task.result()
                raise RuntimeError(f"demo component {task.get_name()} stopped unexpectedly")
        log.info("stopping")
    finally:
        # Stop in an order that lets in-flight work finish: people first, then the cloud
        # (uvicorn waits for open requests, which need the box), then the box.
        order = ["demo-vandal", "demo-applicants", "demo-cloud", "demo-edge"]
        for task in sorted(tasks, key=lambda t: order.index(t.get_name())):
            if task.get_name() == "demo-cloud":
                server.should_exit = True
            else:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        agent.close()
        simulated.close()
        await api.aclose()
        await broker.stop()
        http_sock.close()


def box_config_numbers(count: int) -> range:
    """Compartment numbers of a simulated box of ``count`` compartments."""
    return range(1, count + 1)


async def _until_compartments(api: httpx.AsyncClient, box_id: str, count: int) -> None:
    async with asyncio.timeout(15):
        while True:
            response = await api.get(f"/api/v1/boxes/{box_id}/compartments")
            if response.status_code == 200 and len(response.json()) >= count:
                return
            await asyncio.sleep(0.1)
