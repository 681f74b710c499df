"""Database engine and session factory (PostgreSQL via asyncpg, SQLite via aiosqlite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from docbox_cloud.errors import ConfigError, StorageError

#: How long SQLite waits for a competing writer before giving up with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5_000


def parse_database_url(database_url: str) -> URL:
    """Parse a SQLAlchemy URL, translating errors.

    Raises:
        ConfigError: if the URL cannot be parsed or names a synchronous driver.
    """
    try:
        url = make_url(database_url)
    except ArgumentError:
        # Not "from exc": SQLAlchemy's message repeats the URL, password included.
        raise ConfigError("invalid database URL: cannot parse it as a SQLAlchemy URL") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {url.get_backend_name()!r} (use postgresql or sqlite)")
    if url.get_driver_name() not in ("aiosqlite", "asyncpg"):
        raise ConfigError(
            f"database driver {url.get_driver_name()!r} is not async: "
            "use sqlite+aiosqlite or postgresql+asyncpg"
        )
    return url


def is_sqlite(url: URL) -> bool:
    """Tell whether ``url`` points at SQLite."""
    return url.get_backend_name() == "sqlite"


def ensure_sqlite_folder(url: URL) -> None:
    """Create the folder of a file-based SQLite database (the default lives in ./var/)."""
    database = url.database
    if is_sqlite(url) and database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for ``database_url``.

    For SQLite the connections get WAL journaling, enforced foreign keys and a busy timeout,
    and every transaction starts with ``BEGIN IMMEDIATE``: in WAL mode a read transaction
    that later writes fails at once (SQLITE_BUSY_SNAPSHOT) if another connection committed in
    between, and the bridge and the API do write concurrently. Taking the write lock up front
    turns that failure into a short wait.

    Raises:
        ConfigError: if the URL is invalid.
    """
    url = parse_database_url(database_url)
    if is_sqlite(url):
        ensure_sqlite_folder(url)
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (the "begin" hook below) instead of sqlite3's
        # legacy implicit BEGIN, which is only emitted before DML.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory the API and the bridge use.

    ``expire_on_commit=False`` keeps loaded attributes usable after commit, which async code
    needs because it cannot lazy-load them again implicitly.
    """
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Open a session with a transaction that commits on success and rolls back on error.

    Raises:
        StorageError: translated from any database or connection error.
    """
    try:
        async with sessions() as session, session.begin():
            yield session
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(f"database error: {exc.__class__.__name__}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy messages append the SQL and its parameters on later lines; keep them out of logs.
    return str(exc).split("\n", 1)[0][:200]
