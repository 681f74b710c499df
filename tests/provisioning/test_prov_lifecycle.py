"""Revocation and rotation against a real Mosquitto running the generated configuration."""

from __future__ import annotations

import shutil
import ssl
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from docbox_protocol.tls import BUNDLE_CERT_FILE, BUNDLE_KEY_FILE
from docbox_protocol.topics import Channel, topic, wildcard
from docbox_provisioning.pki import crl_pem, load_cert, load_key, now
from docbox_provisioning.state import Kind, load_state
from tests.provisioning.helpers import (
    BOX_A,
    BOX_B,
    PkiFolder,
    StartBroker,
    assert_refused,
    box_client,
    bundle_client,
    cloud_client,
    run_cli,
    wait_for_log,
)

pytestmark = pytest.mark.integration


def cli_ok(*args: str) -> str:
    """Run a provisioning command that must succeed; return its stdout."""
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_revoked_box_is_refused_and_its_open_connection_loses_every_right(
    own_pki: PkiFolder, start_broker: StartBroker
) -> None:
    broker = start_broker(own_pki)
    with (
        cloud_client(own_pki) as cloud,
        box_client(own_pki, BOX_A) as stolen,
        box_client(own_pki, BOX_B) as b,
    ):
        cloud.subscribe(wildcard(Channel.EVENTS))
        stolen.subscribe(topic(BOX_A, Channel.COMMANDS))

        cli_ok("revoke", BOX_A, "--dir", str(own_pki.layout.root))
        broker.reload()

        assert_refused(box_client(own_pki, BOX_A))
        wait_for_log(broker, "certificate verify failed")
        # The connection opened before the revocation is still there (the CRL is checked at
        # connect only), but the reloaded ACL denies it everything, in both directions.
        stolen.publish(topic(BOX_A, Channel.EVENTS), b"from the stolen box")
        cloud.publish(topic(BOX_A, Channel.COMMANDS), b"command to the stolen box")
        b.publish(topic(BOX_B, Channel.EVENTS), b"sentinel")
        assert cloud.expect_message().payload == b"sentinel"
        stolen.publish(topic(BOX_A, Channel.EVENTS), b"flush")  # round trip: deliveries came first
        assert stolen.messages.empty()
    with box_client(own_pki, BOX_B):
        pass  # other boxes are unaffected


def test_an_expired_crl_locks_every_client_out(own_pki: PkiFolder, start_broker: StartBroker) -> None:
    # Why `docbox provision crl` must run before the CRL's next update (docs/security.md).
    ca_key = load_key((own_pki.layout.ca / "ca.key").read_bytes())
    ca_cert = load_cert((own_pki.layout.ca / "ca.crt").read_bytes())
    expired = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now() - timedelta(days=2))
        .next_update(now() - timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    (own_pki.layout.broker / "crl.pem").write_bytes(crl_pem(expired))
    broker = start_broker(own_pki)
    assert_refused(box_client(own_pki, BOX_A))
    wait_for_log(broker, "certificate verify failed")

    cli_ok("crl", "--dir", str(own_pki.layout.root))
    broker.reload()
    with box_client(own_pki, BOX_A):
        pass


def test_the_broker_certificate_is_rotated_without_dropping_anyone(
    own_pki: PkiFolder, start_broker: StartBroker
) -> None:
    broker = start_broker(own_pki)
    old_serial = load_cert((own_pki.layout.broker / "server.crt").read_bytes()).serial_number
    with cloud_client(own_pki) as cloud, box_client(own_pki, BOX_A) as a:
        cloud.subscribe(wildcard(Channel.EVENTS))

        cli_ok("rotate", "broker", "--dir", str(own_pki.layout.root))
        broker.reload()

        # The open connection carries on ...
        a.publish(topic(BOX_A, Channel.EVENTS), b"after the rotation")
        assert cloud.expect_message().payload == b"after the rotation"
        # ... and a new one (with the unchanged bundle) gets the new certificate.
        with box_client(own_pki, BOX_B) as b:
            sock = b.paho.socket()
            assert isinstance(sock, ssl.SSLSocket)
            der = sock.getpeercert(binary_form=True)
            assert der is not None
            served = x509.load_der_x509_certificate(der)
    state = load_state(own_pki.layout.state)
    current = state.current(Kind.BROKER, "broker")
    assert current is not None
    assert served.serial_number == int(current.serial, 16) != old_serial


def test_a_rotated_box_certificate_overlaps_until_the_old_one_is_revoked(
    own_pki: PkiFolder, start_broker: StartBroker, tmp_path: Path
) -> None:
    old_bundle = tmp_path / "old-bundle"
    shutil.copytree(own_pki.bundle(BOX_A), old_bundle)
    broker = start_broker(own_pki)

    cli_ok("rotate", "boxes", BOX_A, "--dir", str(own_pki.layout.root))
    new_cert = (own_pki.bundle(BOX_A) / BUNDLE_CERT_FILE).read_bytes()
    assert new_cert != (old_bundle / BUNDLE_CERT_FILE).read_bytes()
    assert (own_pki.bundle(BOX_A) / BUNDLE_KEY_FILE).read_bytes() != (
        old_bundle / BUNDLE_KEY_FILE
    ).read_bytes()

    # Until the new bundle is installed, the box keeps working with the old one.
    with bundle_client(old_bundle, own_pki.port):
        pass
    with box_client(own_pki, BOX_A):
        pass

    stdout = cli_ok("revoke", "--superseded", "--dir", str(own_pki.layout.root))
    assert "1 certificate(s) revoked" in stdout
    broker.reload()
    assert_refused(bundle_client(old_bundle, own_pki.port))
    with box_client(own_pki, BOX_A):
        pass
