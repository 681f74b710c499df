"""Serving the API inside another asyncio program (the demo, end-to-end tests)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that its host program starts and stops.

    It leaves signal handling to the host (which stops its parts in order) and offers
    :attr:`ready`, an event set once the application's start-up finished and the socket
    accepts requests.
    """

    def __init__(self, app: FastAPI, *, log_level: str = "warning") -> None:
        super().__init__(uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False))
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install no signal handlers: the host program owns Ctrl-C and SIGTERM."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start up, then announce readiness."""
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self.ready.set()
