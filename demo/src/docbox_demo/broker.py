"""The embedded MQTT broker of the demo (amqtt, in-process, MQTT 3.1.1 only)."""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker


class EmbeddedBroker:
    """An amqtt broker on one loopback port, anonymous (the demo has no TLS or accounts).

    A production deployment uses Mosquitto (or a cluster) with TLS client certificates; the
    demo keeps only what a single machine needs.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._broker: Any = None

    @property
    def url(self) -> str:
        """``mqtt://host:port``."""
        return f"mqtt://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start listening."""
        # amqtt logs every connection at INFO; the demo's own log is what people read.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = Broker(config)
        await self._broker.start()

    async def stop(self) -> None:
        """Stop the broker (idempotent)."""
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await broker.shutdown()
