"""The Alembic migrations build exactly the schema the models describe (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from docbox_cloud.db import create_engine
from docbox_cloud.migrate import alembic_config, migrate, migrate_async, script_location
from docbox_cloud.models import Base


def _diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def schema_diffs(database_url: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_diffs)
    finally:
        await engine.dispose()


async def tables(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_tables)
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    await migrate_async(database_url)

    assert await schema_diffs(database_url) == []
    assert {"boxes", "compartments", "events", "commands", "alembic_version"} <= await tables(database_url)


async def test_migrate_is_idempotent_and_reversible(database_url: str) -> None:
    # The blocking variant, called where an event loop runs, moves to a helper thread.
    migrate(database_url)
    await migrate_async(database_url)

    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "base")
    assert await tables(database_url) <= {"alembic_version"}

    await migrate_async(database_url)
    assert await schema_diffs(database_url) == []


def test_migrate_from_sync_code_creates_the_sqlite_folder(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'var' / 'docbox.db'}"

    migrate(url)

    assert (tmp_path / "nested" / "var" / "docbox.db").is_file()


def test_migrations_ship_inside_the_package() -> None:
    versions = Path(script_location()) / "versions"
    assert (Path(script_location()) / "env.py").is_file()
    assert any(versions.glob("0001_*.py"))
