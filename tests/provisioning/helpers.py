"""Helpers of the provisioning tests: PKI folders and TLS MQTT clients made from them."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import typer
from typer.testing import CliRunner, Result

from docbox_protocol.tls import TlsFiles, client_context
from docbox_provisioning.authority import Authority, InitOptions
from docbox_provisioning.commands import register
from docbox_provisioning.layout import Layout
from tests.support.mqtt import MqttTestClient
from tests.support.ports import LOOPBACK, free_port
from tests.support.services import MosquittoServer, wait_until

BOX_A = "box-a"
BOX_B = "box-b"


@dataclass(frozen=True)
class PkiFolder:
    """A PKI folder made by the provisioning code, for a broker on ``port``."""

    layout: Layout
    port: int

    def bundle(self, box_id: str) -> Path:
        """The edge bundle of ``box_id``."""
        return self.layout.bundle(box_id)

    def cloud(self, name: str = "main") -> Path:
        """The folder of a cloud identity."""
        return self.layout.cloud(name)


StartBroker = Callable[[PkiFolder], MosquittoServer]
"""Type of the ``start_broker`` fixture: Mosquitto running a PKI's generated configuration."""


def make_pki(root: Path, boxes: tuple[str, ...] = (BOX_A, BOX_B)) -> PkiFolder:
    """Init a PKI in ``root`` for a loopback broker on a free port, with ``boxes`` provisioned.

    The cloud folder's paths in cloud.env are the real ones, so tests can load it.
    """
    port = free_port()
    cloud_dir = Layout(root).cloud("main")
    options = InitOptions(
        broker_hosts=("127.0.0.1", "localhost"),
        broker_port=port,
        listen_address="127.0.0.1",
        cloud_dir=str(cloud_dir),
    )
    with Authority.create(root, options) as pki:
        pki.add_boxes(list(boxes))
    return PkiFolder(Layout(root), port)


def box_client(
    pki: PkiFolder,
    box_id: str,
    *,
    client_id: str = "",
    trust: PkiFolder | None = None,
    port: int | None = None,
) -> MqttTestClient:
    """An MQTT 3.1.1 client with the TLS files of ``box_id``'s bundle in ``pki``.

    Args:
        pki: Whose bundle (certificate and key) to use.
        box_id: The box.
        client_id: MQTT client id (the broker replaces it by the certificate's CN).
        trust: Trust this PKI's CA for the broker instead of the bundle's.
        port: Connect to this port instead of ``pki``'s broker port.
    """
    files = TlsFiles.in_bundle(pki.bundle(box_id))
    if trust is not None:
        files = TlsFiles(trust.layout.ca / "ca.crt", files.cert_file, files.key_file)
    return MqttTestClient(
        LOOPBACK, port if port is not None else pki.port, client_id, tls_context=client_context(files)
    )


def cloud_client(pki: PkiFolder, name: str = "main") -> MqttTestClient:
    """An MQTT 5 client with cloud identity ``name``'s certificate (for shared subscriptions)."""
    folder = pki.cloud(name)
    context = client_context(TlsFiles(folder / "ca.crt", folder / "client.crt", folder / "client.key"))
    return MqttTestClient(LOOPBACK, pki.port, tls_context=context, protocol=mqtt.MQTTv5)


def run_cli(*args: str) -> Result:
    """Run ``docbox provision ARGS`` in-process; stdout and stderr are kept apart."""
    root = typer.Typer()
    register(root)
    return CliRunner().invoke(root, ["provision", *args])


def assert_refused(client: MqttTestClient, timeout: float = 10.0) -> None:
    """Assert the broker refuses ``client``: a TLS alert, or the connection closed before CONNACK.

    Runs paho's loop in this thread (no network thread whose reconnect wait would have to
    end first). A timeout is not a refusal: it fails the test.
    """
    paho = client.paho
    outcome: list[str] = []
    paho.on_connect = lambda *_: outcome.append("accepted")
    paho.on_disconnect = lambda *_: outcome.append("refused")
    try:
        paho.connect(client.host, client.port)
    except (ssl.SSLError, ConnectionError):
        return  # refused in the handshake (TLS 1.2)
    deadline = time.monotonic() + timeout
    try:
        while not outcome:
            assert time.monotonic() < deadline, f"neither accepted nor refused within {timeout} s"
            paho.loop(timeout=0.05)
    finally:
        paho.disconnect()
    assert outcome[0] == "refused"


def bundle_client(bundle: Path, port: int) -> MqttTestClient:
    """An MQTT 3.1.1 client with the TLS files of the edge bundle in ``bundle``."""
    return MqttTestClient(LOOPBACK, port, tls_context=client_context(TlsFiles.in_bundle(bundle)))


def wait_for_log(broker: MosquittoServer, text: str, timeout: float = 10.0) -> None:
    """Wait until the broker logged ``text`` (it may log a refusal after the client saw it)."""
    wait_until(lambda: text in broker.log_text(), timeout=timeout, message=f"broker log line {text!r}")
