"""Alembic environment: async engines, PostgreSQL and SQLite (batch mode for SQLite's ALTER).

The URL comes from ``config.attributes["database_url"]`` (set by
:func:`docbox_cloud.migrate.migrate`), else ``sqlalchemy.url`` in an alembic.ini, else the
``DOCBOX_DATABASE_URL`` environment variable.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from docbox_cloud.db import ensure_sqlite_folder, is_sqlite, parse_database_url
from docbox_cloud.models import Base
from docbox_cloud.settings import DatabaseSettings

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return str(url) if url else DatabaseSettings().database_url


def _configure(**kwargs: object) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True, **kwargs)  # type: ignore[arg-type]


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade head --sql``)."""
    url = parse_database_url(_database_url())
    _configure(url=url, literal_binds=True, render_as_batch=is_sqlite(url))
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    # SQLite cannot ALTER most things: batch mode recreates the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = parse_database_url(_database_url())
    ensure_sqlite_folder(url)
    # A plain engine, not docbox_cloud.db.create_engine: SQLite batch migrations must run
    # without enforced foreign keys (recreating a table would otherwise cascade deletes).
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Run the migrations on a connection given by the caller or on a new async engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
