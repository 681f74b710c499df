"""An edge agent with a simulated box in a child process, reporting coil switch-on times.

Benchmarks run the box in its own process, as in production (the Raspberry Pi is another
machine): in the cloud's process the box would compete for the same event loop. Times are
``time.monotonic()``, which is one clock for all processes of a Linux machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from docbox_edge.agent import EdgeAgent, EdgeSettings, parse_broker_url
from docbox_edge.boxconfig import generate_simulated_config
from docbox_edge.hardware.box import build_hardware
from docbox_edge.hardware.mockpins import ExtendedMockFactory, PinObserver, SimulatedPin
from docbox_edge.hardware.simulated import SimulatedBox


@dataclass(frozen=True, slots=True)
class RemoteEdgeSpec:
    """What the child process builds."""

    broker_url: str
    box_id: str
    compartments: int
    public_key_pem: str
    data_dir: Path
    open_after_s: float = 0.002
    shut_after_s: float = 0.1


class RemoteEdge:
    """Start/stop the child; read ``(compartment, monotonic time)`` of each coil switch-on."""

    def __init__(self, spec: RemoteEdgeSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_child, args=(spec, child_conn), daemon=True)

    def start(self, timeout_s: float = 30) -> None:
        """Start the child and wait until its agent is connected."""
        self._process.start()
        if not self._conn.poll(timeout_s) or self._conn.recv() != "connected":
            raise RuntimeError("the benchmark's edge process did not connect")

    def next_coil_on(self, timeout_s: float = 10) -> tuple[int, float]:
        """The next coil switch-on the child observed."""
        if not self._conn.poll(timeout_s):
            raise TimeoutError("no coil switched on")
        number, at = self._conn.recv()
        return int(number), float(at)

    def stop(self) -> None:
        """Ask the child to stop, then make sure it is gone."""
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(15)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()


def _child(spec: RemoteEdgeSpec, conn: Connection) -> None:
    asyncio.run(_run_child(spec, conn))


async def _run_child(spec: RemoteEdgeSpec, conn: Connection) -> None:
    config = generate_simulated_config(spec.box_id, count=spec.compartments)
    factory = ExtendedMockFactory()
    hardware = build_hardware(config, factory)
    box = SimulatedBox(config, factory)
    box.auto_person(open_after_s=spec.open_after_s, shut_after_s=spec.shut_after_s)
    for c in config.compartments:
        pin: SimulatedPin = factory.pin(c.lock_pin)
        pin.add_observer(_reporter(c.number, conn))
    host, port = parse_broker_url(spec.broker_url)
    agent = EdgeAgent(
        EdgeSettings(
            box=config,
            broker_host=host,
            broker_port=port,
            data_dir=spec.data_dir,
            public_keys=(spec.public_key_pem,),
            telemetry_interval_s=0,
        ),
        hardware,
    )
    task = asyncio.create_task(agent.run())
    await agent.connected.wait()
    conn.send("connected")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, _wait_for_stop, conn)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    agent.close()
    box.close()


def _wait_for_stop(conn: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        while conn.recv() != "stop":
            pass


def _reporter(number: int, conn: Connection) -> PinObserver:
    def observer(_pin: SimulatedPin, level: bool) -> None:
        if level:
            conn.send((number, time.monotonic()))

    return observer
