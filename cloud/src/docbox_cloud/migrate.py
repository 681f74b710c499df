"""Run the Alembic migrations programmatically (at start-up and by ``docbox cloud migrate``)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import SQLAlchemyError

from docbox_cloud.errors import MigrationError


def script_location() -> str:
    """Return the migrations folder inside the installed package."""
    return str(files("docbox_cloud") / "migrations")


def alembic_config(database_url: str) -> Config:
    """Build an Alembic config for ``database_url`` without any alembic.ini.

    The URL travels in ``Config.attributes`` rather than ``sqlalchemy.url`` because the
    latter goes through ConfigParser interpolation, which mangles passwords containing ``%``.
    """
    config = Config()
    config.set_main_option("script_location", script_location())
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str, revision: str = "heads") -> None:
    """Upgrade the database at ``database_url`` to ``revision`` (default: the newest).

    Blocks until done. The Alembic environment runs its own event loop, which a thread
    with a running loop cannot do, so from there the work moves to a helper thread; async
    code should rather ``await`` :func:`migrate_async`.

    Raises:
        MigrationError: if a migration fails or the database cannot be reached.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _upgrade(database_url, revision)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="docbox-migrate") as pool:
        pool.submit(_upgrade, database_url, revision).result()


async def migrate_async(database_url: str, revision: str = "heads") -> None:
    """Like :func:`migrate`, without blocking the event loop."""
    await asyncio.to_thread(_upgrade, database_url, revision)


def _upgrade(database_url: str, revision: str) -> None:
    try:
        command.upgrade(alembic_config(database_url), revision)
    except (SQLAlchemyError, OSError) as exc:
        raise MigrationError(f"migration to {revision} failed: {exc.__class__.__name__}: {exc}") from exc
