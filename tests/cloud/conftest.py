"""Fixtures of the cloud tests: migrated databases (SQLite, and PostgreSQL), settings, keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.db import create_engine, session_factory
from docbox_cloud.migrate import migrate_async
from docbox_cloud.settings import CloudSettings
from docbox_protocol.signing import generate_private_key, private_key_pem

API_TOKEN = "test-token-0123456789"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of an empty SQLite database file."""
    return f"sqlite+aiosqlite:///{tmp_path / 'docbox.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """URL of an empty database: SQLite, and a throwaway PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Session factory on a migrated database (SQLite and PostgreSQL)."""
    await migrate_async(database_url)
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def sqlite_sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Session factory on a migrated SQLite database."""
    await migrate_async(sqlite_url)
    engine = create_engine(sqlite_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    """The cloud's command-signing key for this test run."""
    return generate_private_key()


@pytest.fixture
def make_settings(sqlite_url: str, signing_key: Ed25519PrivateKey) -> Callable[..., CloudSettings]:
    """Build settings on the test's SQLite database; keyword arguments override."""

    def make(**overrides: Any) -> CloudSettings:
        values: dict[str, Any] = {
            "database_url": sqlite_url,
            "api_token": API_TOKEN,
            "signing_key_pem": private_key_pem(signing_key).decode(),
        }
        values.update(overrides)
        return CloudSettings(_env_file=None, **values)

    return make
