"""A whole edge agent with its kiosk on a simulated box, for driving the kiosk in Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from docbox_edge.agent import EdgeAgent, EdgeSettings
from docbox_edge.boxconfig import BoxConfig, Defaults, generate_simulated_config
from docbox_edge.hardware.box import build_hardware
from docbox_edge.hardware.mockpins import ExtendedMockFactory
from docbox_edge.hardware.simulated import SimulatedBox
from docbox_protocol.codec import decode
from docbox_protocol.messages import Event, EventData, GrantsAction
from docbox_protocol.signing import CommandSigner, generate_private_key, public_key_pem
from docbox_protocol.topics import Channel, topic
from tests.support.mqtt import MqttTestClient
from tests.support.services import MosquittoServer

BOX_ID = "box-kiosk"


@dataclass
class KioskApp:
    """The running agent, its simulated box, the cloud's signing key and its event subscriber."""

    agent: EdgeAgent
    sim: SimulatedBox
    signer: CommandSigner
    url: str
    cloud: MqttTestClient
    seen: dict[int, Event] = field(default_factory=dict)

    def install(self, action: GrantsAction) -> None:
        """Put grants into the store as a verified grants command would."""
        self.agent.grants.apply(action)

    async def events(self, kind: type[Any], count: int = 1, within: float = 10.0) -> list[Any]:
        """Wait until the cloud received ``count`` events of ``kind``; return all of that kind."""
        deadline = time.monotonic() + within

        def found() -> list[EventData]:
            return [e.data for _, e in sorted(self.seen.items()) if isinstance(e.data, kind)]

        while len(found()) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"only {len(found())} {kind.__name__} events arrived")
            message = await asyncio.to_thread(self.cloud.expect_message, remaining)
            event = decode(Event, message.payload)
            self.seen.setdefault(event.seq, event)
        return found()


def small_box(count: int = 8) -> BoxConfig:
    config = generate_simulated_config(BOX_ID, count)
    defaults = Defaults(pulse_ms=40, debounce_ms=5, flapping_changes=10, flapping_window_ms=1000)
    return BoxConfig.model_validate(
        {
            **config.model_dump(),
            "defaults": defaults.model_dump(),
            "compartments": [
                c.model_copy(update={"pulse_ms": None}).model_dump() for c in config.compartments
            ],
        }
    )


@contextlib.asynccontextmanager
async def running_kiosk(
    broker: MosquittoServer, data_dir: Path, key: Ed25519PrivateKey | None = None, **overrides: object
) -> AsyncIterator[KioskApp]:
    """Start an agent (kiosk on a free port) connected to ``broker``; stop it afterwards."""
    key = key or generate_private_key()
    config = small_box()
    factory = ExtendedMockFactory()
    hardware = build_hardware(config, factory)
    sim = SimulatedBox(config, factory)
    settings = EdgeSettings.model_validate(
        {
            "box": config,
            "broker_host": broker.host,
            "broker_port": broker.port,
            "data_dir": data_dir,
            "public_keys": (public_key_pem(key.public_key()).decode(),),
            "unlock_confirm_s": 1.0,
            "telemetry_interval_s": 0,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.5,
            "kiosk_port": 0,
            **overrides,
        }
    )
    agent = EdgeAgent(settings, hardware)
    cloud = MqttTestClient(broker.host, broker.port).connect()
    cloud.subscribe(topic(BOX_ID, Channel.EVENTS), qos=1)
    task = asyncio.create_task(agent.run(), name="kiosk-agent")
    try:
        async with asyncio.timeout(10):
            await agent.kiosk_ready.wait()
            await agent.connected.wait()
        assert agent.kiosk is not None
        assert agent.kiosk.url is not None
        yield KioskApp(agent, sim, CommandSigner(key, lifetime_s=10), agent.kiosk.url, cloud)
    finally:
        cloud.disconnect()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        agent.close()
        sim.close()
        factory.close()
