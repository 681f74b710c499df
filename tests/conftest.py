"""Fixtures shared by all tests: real servers, and a guard against logged errors.

Types for annotating fixture arguments live in tests.support.fixtures and
tests.support.services.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import pytest

from tests.support.fixtures import (
    ErrorLogRecorder,
    MosquittoFactory,
    PostgresDatabase,
    PostgresFactory,
    database_name,
    started,
)
from tests.support.services import InfluxServer, MosquittoServer, PostgresServer

pytest_plugins = ["pytester"]


# --------------------------------------------------------------------------- error logs


@pytest.fixture(autouse=True)
def fail_on_error_logs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test that logged a record at ERROR or above (an unexpected exception, say).

    Opt out with ``@pytest.mark.allow_error_logs``; give it regular expressions to allow
    only matching records: ``@pytest.mark.allow_error_logs(r"^docbox_edge\\.outbox: ")``
    is searched in ``"logger.name: message"``.
    """
    recorder = ErrorLogRecorder()
    monkeypatch.setattr(logging.Logger, "handle", recorder.wrap(logging.Logger.handle))
    yield
    records = recorder.unexpected(request.node.get_closest_marker("allow_error_logs"))
    if records:
        details = "\n".join(recorder.describe(record) for record in records)
        pytest.fail(
            f"the test logged {len(records)} record(s) at ERROR or above "
            f"(mark it @pytest.mark.allow_error_logs if that is expected):\n{details}",
            pytrace=False,
        )


# --------------------------------------------------------------------------- Mosquitto


@pytest.fixture
def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoFactory]:
    """Start brokers with extra configuration (TLS listeners, ACLs); all closed afterwards."""
    servers: list[MosquittoServer] = []
    counter = itertools.count()

    def make(
        *,
        extra_config: list[str] | None = None,
        default_listener: bool = True,
        verbose: bool = False,
        port: int | None = None,
    ) -> MosquittoServer:
        directory = tmp_path_factory.mktemp(f"mosquitto{next(counter)}")
        server = started(
            lambda: MosquittoServer(
                directory,
                port=port,
                extra_config=extra_config or (),
                default_listener=default_listener,
                verbose=verbose,
            )
        )
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        # SIGKILL: a throwaway broker need not save its state, and SIGTERM can take 0.1 s.
        server.close(graceful=False)


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> MosquittoServer:
    """A fresh Mosquitto broker for this test: anonymous plain listener on 127.0.0.1."""
    return mosquitto_factory()


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole run; tests get their own databases in it.

    Don't stop or kill it in a test: use ``postgres_factory`` for a cluster of your own.
    """
    server = started(PostgresServer)
    yield server
    server.close()


@pytest.fixture
def postgres_factory() -> Iterator[PostgresFactory]:
    """Start private PostgreSQL clusters (~0.7 s each) that a test may stop or kill."""
    servers: list[PostgresServer] = []

    def make() -> PostgresServer:
        server = started(PostgresServer)
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        server.close()


@pytest.fixture
def postgres_database(
    postgres_server: PostgresServer, request: pytest.FixtureRequest
) -> Iterator[PostgresDatabase]:
    """A fresh, empty database for this test in the session's cluster, dropped afterwards."""
    database = PostgresDatabase(postgres_server, database_name(request.node.name))
    postgres_server.create_database(database.name)
    yield database
    if postgres_server.running:
        postgres_server.drop_database(database.name)


@pytest.fixture
def postgres_url(postgres_database: PostgresDatabase) -> str:
    """SQLAlchemy async URL of a fresh database for this test (asyncpg driver)."""
    return postgres_database.url


# --------------------------------------------------------------------------- InfluxDB


@pytest.fixture
def influxdb() -> Iterator[InfluxServer]:
    """A fresh InfluxDB 1.x server for this test (starts in ~0.1 s); auth off, no databases."""
    server = started(InfluxServer)
    yield server
    # SIGKILL: a throwaway server need not flush, and SIGTERM takes seconds.
    server.close(graceful=False)
