"""Fixtures of the appointment tests: a migrated PostgreSQL, a seeded office, a pinned clock."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.api.app import create_app
from docbox_cloud.appointments.runtime import AppointmentRuntime
from docbox_cloud.db import create_engine, session_factory
from docbox_cloud.migrate import migrate
from docbox_cloud.notify import ConsoleNotifier
from docbox_cloud.settings import CloudSettings
from tests.cloud.appointments.factories import NOW, OfficeSeed, make_context, seed_office
from tests.support.fixtures import database_name
from tests.support.services import PostgresServer

__all__ = ["NOW"]


@pytest.fixture(scope="session")
def migrated_template(postgres_server: PostgresServer) -> str:
    """A database migrated once per run, cloned for each test (faster than migrating each time)."""
    name = f"appt_template_{secrets.token_hex(4)}"
    migrate(postgres_server.create_database(name))
    return name


@pytest.fixture
def appt_pg_url(
    postgres_server: PostgresServer, migrated_template: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database for this test (a clone of the template)."""
    name = database_name(request.node.name)
    postgres_server.psql(f"CREATE DATABASE {name} TEMPLATE {migrated_template}")
    yield postgres_server.url_for(name)
    if postgres_server.running:
        postgres_server.drop_database(name)


@pytest.fixture
async def pg_sessions(appt_pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Session factory on a migrated throwaway PostgreSQL database (pool of 10)."""
    engine = create_engine(appt_pg_url, pool_size=10, max_overflow=0)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def office(pg_sessions: async_sessionmaker[AsyncSession]) -> OfficeSeed:
    """A direct-mode office in Berlin with emergency, ordinary and pickup counters and slots."""
    return await seed_office(pg_sessions)


class Clock:
    """A settable wall clock for the app."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ApptApp:
    """The running API with its test hooks."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: Clock
    notifier: ConsoleNotifier
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
def appt_settings() -> dict[str, Any]:
    """Overrides of the appointment settings for ``appt_app`` (tests may change them first)."""
    return {"ip_burst": 10_000, "person_burst": 100}


@pytest.fixture
async def appt_app(
    appt_pg_url: str, make_settings: Callable[..., CloudSettings], appt_settings: dict[str, Any]
) -> AsyncIterator[ApptApp]:
    """The full API on PostgreSQL with a pinned clock and an inspectable notifier; an office is seeded."""
    app = create_app(make_settings(database_url=appt_pg_url))
    clock = Clock(NOW)
    notifier = ConsoleNotifier(keep=1000)
    app.state.appointments = AppointmentRuntime(make_context(**appt_settings), notifier, clock=clock)
    async with app.router.lifespan_context(app):
        await seed_office(app.state.sessions)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://docbox.test") as client:
            yield ApptApp(app, client, clock, notifier, app.state.sessions)
