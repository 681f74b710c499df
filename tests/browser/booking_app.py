"""The cloud app with the booking page on a free port, for the browser tests of appointments."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.api.app import create_app
from docbox_cloud.api.server import EmbeddedServer
from docbox_cloud.appointments.runtime import AppointmentRuntime
from docbox_cloud.notify import ConsoleNotifier
from docbox_cloud.settings import CloudSettings
from tests.cloud.appointments.conftest import Clock
from tests.cloud.appointments.factories import NOW, make_context, seed_office
from tests.cloud.conftest import API_TOKEN


@dataclass
class BookingSite:
    """A running booking page."""

    url: str
    clock: Clock
    notifier: ConsoleNotifier
    sessions: async_sessionmaker[AsyncSession]


@asynccontextmanager
async def running_booking_site(folder: Path, **appointment_settings: Any) -> AsyncIterator[BookingSite]:
    """Serve the cloud on SQLite (the demo's database) with a seeded office and a pinned clock."""
    settings = CloudSettings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{folder / 'docbox.db'}",
        api_token=API_TOKEN,
        pickup_data_key=Fernet.generate_key().decode(),
    )
    app = create_app(settings)
    clock = Clock(NOW)
    notifier = ConsoleNotifier(keep=1000)
    values: dict[str, Any] = {"ip_burst": 10_000, "person_burst": 100}
    values.update(appointment_settings)
    app.state.appointments = AppointmentRuntime(make_context(**values), notifier, clock=clock)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = EmbeddedServer(app)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(20):
            await server.ready.wait()
        await seed_office(app.state.sessions)
        yield BookingSite(url, clock, notifier, app.state.sessions)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()
