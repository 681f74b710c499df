"""The compose broker's configuration runs: deploy/mosquitto/mosquitto.conf plus the docbox.conf
that `docbox provision init` generates, on a real Mosquitto, with the paths of the containers
mapped to a temporary folder. A client with a provisioned certificate gets in; one without
does not."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from docbox_provisioning.authority import Authority, InitOptions
from tests.support.ports import free_port
from tests.support.services import ServiceUnavailable, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MAIN_CONFIG = REPO / "deploy" / "mosquitto" / "mosquitto.conf"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The compose broker on a free port; yields the port and the PKI folder."""
    mosquitto = "/usr/sbin/mosquitto"
    if not os.access(mosquitto, os.X_OK):
        pytest.fail(str(ServiceUnavailable("mosquitto", "mosquitto")), pytrace=False)
    port = free_port()
    pki = tmp_path / "pki"
    with Authority.create(pki, InitOptions(broker_port=port, listen_address="127.0.0.1")) as authority:
        authority.add_cloud("healthcheck")
    data = tmp_path / "data"
    data.mkdir()
    config = MAIN_CONFIG.read_text()
    config = config.replace("/mosquitto/data/", f"{data}/").replace(
        "/mosquitto/config/docbox", str(pki / "broker")
    )
    config = config.replace("log_dest stdout", f"log_dest file {tmp_path / 'mosquitto.log'}")
    if os.geteuid() == 0:
        config += "user root\n"  # the container runs it as uid 1883; here the files are root's
    (tmp_path / "mosquitto.conf").write_text(config)
    process = subprocess.Popen(
        [mosquitto, "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _listening(port) or process.poll() is not None, timeout=10, message="mosquitto")
        assert process.poll() is None, (tmp_path / "mosquitto.log").read_text()
        yield port, pki
    finally:
        process.kill()
        process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _context(pki: Path, identity: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "broker" / "ca.crt"))
    if identity is not None:
        folder = pki / "cloud" / identity
        context.load_cert_chain(str(folder / "client.crt"), str(folder / "client.key"))
    return context


async def test_a_provisioned_client_connects_over_tls(broker: tuple[int, Path]) -> None:
    port, pki = broker
    async with (
        asyncio.timeout(10),
        aiomqtt.Client(
            "localhost", port, identifier="cloud.healthcheck", tls_context=_context(pki, "healthcheck")
        ) as client,
    ):
        await client.subscribe("docbox/v1/boxes/+/status", qos=1)


def test_a_client_without_a_certificate_is_refused(broker: tuple[int, Path]) -> None:
    port, pki = broker
    # MQTT CONNECT, protocol 3.1.1, clean session, keepalive 10 s, client id "intruder".
    connect = bytes([0x10, 20, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 10, 0, 8]) + b"intruder"
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        _context(pki, None).wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        try:
            tls.sendall(connect)
            answer = tls.recv(4)
        except (ssl.SSLError, ConnectionResetError) as exc:
            answer = str(exc).encode()
    # No CONNACK (0x20): the TLS layer refused the client before MQTT saw it.
    assert not answer.startswith(b"\x20")
    assert answer == b"" or b"certificate required" in answer
