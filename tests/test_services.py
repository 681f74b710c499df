"""The test infrastructure itself: real servers, free ports, the error-log guard."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.fixtures import MosquittoFactory, PostgresDatabase, PostgresFactory, started
from tests.support.mqtt import MqttTestClient
from tests.support.ports import free_port, port_accepts
from tests.support.services import (
    MosquittoServer,
    PostgresServer,
    ServiceError,
    ServiceUnavailable,
)

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- ports


def test_free_port_is_bindable_and_never_repeated() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))


# --------------------------------------------------------------------------- Mosquitto


def test_mosquitto_relays_a_message(mosquitto: MosquittoServer) -> None:
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    assert mosquitto.port not in (1883, 8883)
    with (
        MqttTestClient(mosquitto.host, mosquitto.port, "sub") as subscriber,
        MqttTestClient(mosquitto.host, mosquitto.port, "pub") as publisher,
    ):
        subscriber.subscribe("docbox/test/#", qos=1)
        publisher.publish("docbox/test/hello", b"\x00payload\xff", qos=1)
        message = subscriber.expect_message()
    assert message.topic == "docbox/test/hello"
    assert message.payload == b"\x00payload\xff"
    assert message.qos == 1
    assert "New client connected" in mosquitto.log_text()


def test_mosquitto_config_has_nodelay_and_large_queues(mosquitto: MosquittoServer) -> None:
    config = mosquitto.config_path.read_text().splitlines()
    assert f"listener {mosquitto.port} 127.0.0.1" in config
    assert "set_tcp_nodelay true" in config
    assert "max_queued_messages 1000000" in config


def test_persistent_session_survives_a_broker_restart(mosquitto: MosquittoServer) -> None:
    host, port = mosquitto.host, mosquitto.port
    with MqttTestClient(host, port, "box-7", clean_session=False) as subscriber:
        assert subscriber.session_present is False
        subscriber.subscribe("docbox/box-7/cmd", qos=1)

    # Queued for the absent subscriber, then written to disk by a clean shutdown.
    with MqttTestClient(host, port, "cloud") as publisher:
        publisher.publish("docbox/box-7/cmd", b"while-away", qos=1)
    first_pid = mosquitto.pid
    mosquitto.stop()
    assert not port_accepts(host, port)
    mosquitto.start()

    assert (mosquitto.port, mosquitto.pid != first_pid) == (port, True)
    assert (mosquitto.persistence_dir / "mosquitto.db").exists()
    with MqttTestClient(host, port, "box-7", clean_session=False) as subscriber:
        assert subscriber.session_present is True
        message = subscriber.expect_message()
    assert (message.topic, message.payload, message.qos) == (
        "docbox/box-7/cmd",
        b"while-away",
        1,
    )


def test_mosquitto_can_be_killed_and_started_again(mosquitto: MosquittoServer) -> None:
    mosquitto.kill()
    assert not mosquitto.running
    assert not port_accepts(mosquitto.host, mosquitto.port)
    mosquitto.start()
    with (
        MqttTestClient(mosquitto.host, mosquitto.port) as subscriber,
        MqttTestClient(mosquitto.host, mosquitto.port) as publisher,
    ):
        subscriber.subscribe("t", qos=0)
        publisher.publish("t", b"after-crash", qos=0)
        assert subscriber.expect_message().payload == b"after-crash"


def test_mosquitto_factory_applies_extra_config(mosquitto_factory: MosquittoFactory) -> None:
    second_port = free_port()
    broker = mosquitto_factory(extra_config=[f"listener {second_port} {{host}}", "max_keepalive 120"])
    assert "max_keepalive 120" in broker.config_text()
    with (
        MqttTestClient(broker.host, second_port) as subscriber,
        MqttTestClient(broker.host, broker.port) as publisher,
    ):
        subscriber.subscribe("x/+", qos=1)
        publisher.publish("x/y", b"across listeners", qos=1)
        assert subscriber.expect_message().payload == b"across listeners"


def test_mosquitto_bad_config_fails_with_the_brokers_reason(tmp_path: Path) -> None:
    broker = MosquittoServer(tmp_path, extra_config=["no_such_option 1"])
    with pytest.raises(ServiceError, match="no_such_option"):
        broker.start()
    assert not broker.running


def test_missing_program_fails_with_install_hint(tmp_path: Path) -> None:
    with pytest.raises(ServiceUnavailable, match=r"apt-get install mosquitto"):
        MosquittoServer(tmp_path, binary=str(tmp_path / "mosquitto"))
    # The fixtures turn it into a failure, never a skip.
    with pytest.raises(pytest.fail.Exception, match=r"run ./dev.sh test as root"):
        started(lambda: MosquittoServer(tmp_path, binary="/nonexistent/mosquitto"))
    with pytest.raises(ServiceUnavailable, match=r"apt-get install postgresql"):
        PostgresServer(bindir=tmp_path)


# --------------------------------------------------------------------------- PostgreSQL


async def test_postgres_database_answers(postgres_database: PostgresDatabase) -> None:
    connection = await asyncpg.connect(postgres_database.dsn)
    try:
        assert await connection.fetchval("SELECT 1") == 1
        assert await connection.fetchval("SELECT current_database()") == postgres_database.name
        assert await connection.fetchval("SHOW fsync") == "off"
    finally:
        await connection.close()


async def test_postgres_url_is_an_sqlalchemy_async_url(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    assert postgres_url.startswith(f"postgresql+asyncpg://postgres@127.0.0.1:{postgres_server.port}/")
    assert postgres_server.port != 5432
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE box (id int PRIMARY KEY)"))
            await connection.execute(text("INSERT INTO box VALUES (7)"))
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT id FROM box"))).scalar_one() == 7
    finally:
        await engine.dispose()


def test_each_test_gets_its_own_database(
    postgres_database: PostgresDatabase, postgres_server: PostgresServer
) -> None:
    # A table made by another test must not be visible here.
    assert (
        postgres_server.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'box'", postgres_database.name)
        == "0"
    )


def _insert_row(server: PostgresServer, value: str) -> None:
    server.psql("CREATE TABLE IF NOT EXISTS kept (value text)", "app")
    server.psql(f"INSERT INTO kept VALUES ('{value}')", "app")


def test_postgres_restart_keeps_data(postgres_factory: PostgresFactory) -> None:
    server = postgres_factory()
    server.create_database("app")
    _insert_row(server, "before-stop")
    port = server.port
    server.stop()
    assert not server.running
    assert not port_accepts(server.host, port)
    server.start()
    assert server.port == port
    assert server.psql("SELECT value FROM kept", "app") == "before-stop"


def test_postgres_kill_keeps_committed_data(postgres_factory: PostgresFactory) -> None:
    server = postgres_factory()
    server.create_database("app")
    _insert_row(server, "before-crash")
    server.kill()
    assert not server.running
    server.start()
    assert server.psql("SELECT value FROM kept", "app") == "before-crash"
    assert "database system was interrupted" in server.log_text()


# --------------------------------------------------------------------------- error-log guard


GUARDED_TESTS = """
import logging

import pytest


def test_logs_an_error():
    logging.getLogger("docbox.any").error("boom %s", 1)


def test_logs_an_exception_on_a_non_propagating_logger():
    logger = logging.getLogger("quiet")
    logger.propagate = False
    try:
        raise ValueError("bad message")
    except ValueError:
        logger.exception("handler crashed")


def test_logs_a_warning_only():
    logging.getLogger("docbox.any").warning("just a warning")


@pytest.mark.allow_error_logs
def test_allowed_everything():
    logging.getLogger("docbox.any").error("expected")


@pytest.mark.allow_error_logs(r"^docbox\\.edge: door jammed")
def test_allowed_by_pattern():
    logging.getLogger("docbox.edge").error("door jammed in 12")


@pytest.mark.allow_error_logs(r"^docbox\\.edge: door jammed")
def test_pattern_does_not_allow_others():
    logging.getLogger("docbox.edge").error("door jammed in 12")
    logging.getLogger("docbox.cloud").error("unexpected")
"""


def test_error_logs_fail_the_test(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makeconftest((REPO_ROOT / "tests" / "conftest.py").read_text())
    pytester.makeini(
        textwrap.dedent(
            """
            [pytest]
            asyncio_mode = auto
            asyncio_default_fixture_loop_scope = function
            addopts = --strict-markers -p no:cacheprovider
            markers =
                allow_error_logs: may log errors
            """
        )
    )
    pytester.makepyfile(test_guarded=GUARDED_TESTS)
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=6, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*test_logs_an_error PASSED*",
            "*test_logs_an_error ERROR*",
            "*test_logs_a_warning_only PASSED*",
            "*test_allowed_everything PASSED*",
        ]
    )
    output = result.stdout.str()
    assert "ERROR docbox.any: boom 1" in output
    assert "ERROR quiet: handler crashed" in output
    assert "ValueError: bad message" in output
    assert "ERROR docbox.cloud: unexpected" in output
    assert "ERROR docbox.edge: door jammed" not in output
