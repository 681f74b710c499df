"""Types and helpers behind the fixtures in tests/conftest.py (import types from here)."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import pytest

from tests.support.services import (
    InfluxServer,
    MosquittoServer,
    PostgresServer,
    ServiceError,
    ServiceUnavailable,
)

__all__ = [
    "ErrorLogRecorder",
    "MosquittoFactory",
    "PostgresDatabase",
    "PostgresFactory",
    "database_name",
    "started",
]

ServerT = TypeVar("ServerT", MosquittoServer, PostgresServer, InfluxServer)


def started(make: Callable[[], ServerT]) -> ServerT:
    """Build and start a server; a missing program fails the test (never skips it)."""
    try:
        server = make()
    except ServiceUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        server.start()
    except ServiceError:
        server.close(graceful=False)
        raise
    return server


class MosquittoFactory(Protocol):
    """Type of the ``mosquitto_factory`` fixture; see :class:`MosquittoServer`."""

    def __call__(
        self,
        *,
        extra_config: list[str] | None = None,
        default_listener: bool = True,
        verbose: bool = False,
        port: int | None = None,
    ) -> MosquittoServer: ...


PostgresFactory = Callable[[], PostgresServer]
"""Type of the ``postgres_factory`` fixture: starts a private cluster."""


@dataclass(frozen=True)
class PostgresDatabase:
    """A database made for one test in the session's cluster."""

    server: PostgresServer
    name: str

    @property
    def url(self) -> str:
        """SQLAlchemy async URL: ``postgresql+asyncpg://postgres@127.0.0.1:PORT/NAME``."""
        return self.server.url_for(self.name)

    @property
    def dsn(self) -> str:
        """Plain DSN for asyncpg.connect or psql: ``postgresql://postgres@…/NAME``."""
        return self.server.dsn(self.name)


_database_numbers = itertools.count()


def database_name(test_name: str) -> str:
    """A database name unique in this run, recognisable by its test's name."""
    slug = re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_")
    return f"t{next(_database_numbers)}_{slug}"[:63].rstrip("_")


class ErrorLogRecorder:
    """Collects every log record at ERROR or above, wherever it was emitted."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []

    def wrap(
        self, original: Callable[[logging.Logger, logging.LogRecord], None]
    ) -> Callable[[logging.Logger, logging.LogRecord], None]:
        """Return a replacement for ``Logger.handle`` that records, then calls ``original``."""
        records = self.records

        def handle(logger: logging.Logger, record: logging.LogRecord) -> None:
            # Patched into Logger.handle rather than added as a root handler, so records
            # of loggers that don't propagate (uvicorn's, say) are caught too.
            if record.levelno >= logging.ERROR and not logger.disabled:
                records.append(record)
            original(logger, record)

        return handle

    def unexpected(self, marker: pytest.Mark | None) -> list[logging.LogRecord]:
        """The records that ``@pytest.mark.allow_error_logs(*patterns)`` does not allow."""
        if marker is None:
            return list(self.records)
        if not marker.args:
            return []
        patterns = [re.compile(pattern) for pattern in marker.args]
        return [
            record
            for record in self.records
            if not any(p.search(f"{record.name}: {record.getMessage()}") for p in patterns)
        ]

    @staticmethod
    def describe(record: logging.LogRecord) -> str:
        """One record as ``LEVEL logger: message`` plus its exception, if any."""
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f"\n    {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return text
