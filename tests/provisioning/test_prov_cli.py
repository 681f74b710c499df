"""``docbox provision`` end to end on disk: layout, file modes, batches, revocation, rotation."""

from __future__ import annotations

import fcntl
import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from cryptography import x509

from docbox_protocol.messages import UnlockAction
from docbox_protocol.signing import CommandSigner, CommandVerifier, load_private_key, load_public_key
from docbox_protocol.tls import BUNDLE_CERT_FILE, BUNDLE_KEY_FILE
from docbox_provisioning.layout import Layout
from docbox_provisioning.pki import common_name, load_cert
from docbox_provisioning.state import Kind, load_state
from tests.provisioning.helpers import run_cli

BOX_CONFIG = 'box_id = "box-1"\n\n[[boards]]\nkind = "gpio"\nid = "header"\n'


def ok(*args: str) -> tuple[str, str]:
    """Run a command that must succeed; return (stdout, stderr)."""
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def fails(*args: str) -> str:
    """Run a command that must fail with exit code 1; return its stderr."""
    result = run_cli(*args)
    assert result.exit_code == 1, result.output
    return result.stderr


@pytest.fixture
def pki(tmp_path: Path) -> Layout:
    """An initialised PKI folder."""
    root = tmp_path / "pki"
    ok("init", "--dir", str(root), "--broker-host", "broker.example.org", "--broker-port", "8884")
    return Layout(root)


def private_key_bodies(root: Path) -> list[str]:
    """The base64 lines of every private key under ``root``."""
    bodies = []
    for path in root.rglob("*"):
        if path.is_file() and b"PRIVATE KEY-----" in path.read_bytes()[:64]:
            bodies += [line for line in path.read_text().splitlines() if line and "-----" not in line]
    return bodies


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def signing_works(layout: Layout) -> bool:
    """Whether a command signed with the cloud's key verifies with every bundle's keys."""
    signer = CommandSigner(load_private_key((layout.cloud("main") / "command-signing.key").read_bytes()))
    for bundle in sorted(p for p in layout.boxes.iterdir() if p.is_dir()):
        keys = [load_public_key(p.read_bytes()) for p in sorted((bundle / "keys").iterdir())]
        command = signer.command(bundle.name, UnlockAction(compartment=1))
        try:
            CommandVerifier(keys).verify(signer.sign(command))
        except Exception:
            return False
    return True


def test_init_and_box_write_the_layout_with_private_keys_readable_by_the_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "pki"
    outputs = [ok("init", "--out", str(root), "--broker-host", "broker.example.org")]
    config = tmp_path / "box.toml"
    config.write_text(BOX_CONFIG)
    outputs.append(ok("box", "box-1", "--dir", str(root), "--config", str(config)))
    layout = Layout(root)

    key_files = [p for p in root.rglob("*") if p.is_file() and p.suffix == ".key"]
    assert {p.relative_to(root).as_posix() for p in key_files} >= {
        "ca/ca.key",
        "broker/server.key",
        "cloud/main/client.key",
        "cloud/main/command-signing.key",
        "boxes/box-1/tls/client.key",
    }
    for path in key_files:
        assert mode(path) == 0o600, path
        assert mode(path.parent) == 0o700, path.parent
    assert mode(root) == 0o700
    # The CA key stays in ca/: nothing that is handed out holds it.
    ca_key = (layout.ca / "ca.key").read_bytes()
    assert [p for p in root.rglob("*") if p.is_file() and p.read_bytes() == ca_key] == [layout.ca / "ca.key"]
    # Never printed: neither the PEM marker nor a line of any key.
    printed = "".join(stdout + stderr for stdout, stderr in outputs)
    assert "PRIVATE KEY" not in printed
    assert not [line for line in private_key_bodies(root) if line in printed]

    bundle = layout.bundle("box-1")
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    kid = load_state(layout.state).signing.active
    assert files == {
        "bundle.json",
        "edge.env",
        "box.toml",
        "tls/ca.crt",
        "tls/client.crt",
        "tls/client.key",
        f"keys/command-signing-{kid}.pub",
    }
    assert (bundle / "box.toml").read_text() == BOX_CONFIG
    manifest = json.loads((bundle / "bundle.json").read_text())
    cert = load_cert((bundle / BUNDLE_CERT_FILE).read_bytes())
    assert manifest["box_id"] == "box-1" == common_name(cert)
    assert manifest["broker_url"] == "mqtts://broker.example.org:8883"
    assert manifest["certificate"]["serial"] == f"{cert.serial_number:x}"
    assert manifest["command_keys"] == [kid]
    # Read the file as sh does (`set -a; . edge.env`), which is how the compose stack uses it.
    sourced = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"; env', "sh", str(bundle / "edge.env")],
        capture_output=True,
        text=True,
        check=True,
        env={},
    ).stdout
    env = dict(line.split("=", 1) for line in sourced.splitlines() if line.startswith("DOCBOX_"))
    assert env == {
        "DOCBOX_BROKER": "mqtts://broker.example.org:8883",
        "DOCBOX_COMMAND_KEYS": f"/etc/docbox/edge/keys/command-signing-{kid}.pub",
        "DOCBOX_MQTT_CA_FILE": "/etc/docbox/edge/tls/ca.crt",
        "DOCBOX_MQTT_CERT_FILE": "/etc/docbox/edge/tls/client.crt",
        "DOCBOX_MQTT_KEY_FILE": "/etc/docbox/edge/tls/client.key",
        "DOCBOX_BOX_CONFIG": "/etc/docbox/edge/box.toml",
    }
    assert signing_works(layout)


def test_a_batch_of_boxes_reports_progress_on_stderr(pki: Layout) -> None:
    stdout, stderr = ok("box", "office-{01..12}", "--dir", str(pki.root))
    assert sorted(p.name for p in pki.boxes.iterdir()) == [f"office-{n:02d}" for n in range(1, 13)]
    assert stderr.splitlines()[-1] == "issuing box certificates: 12/12 (office-12)"
    assert stdout.splitlines()[-1] == "12 certificates issued"
    serials = {r.serial for r in load_state(pki.state).records(Kind.BOX)}
    assert len(serials) == 12


def test_a_box_is_provisioned_once_unless_skipped(pki: Layout) -> None:
    ok("box", "box-1", "--dir", str(pki.root))
    before = (pki.bundle("box-1") / BUNDLE_KEY_FILE).read_bytes()
    assert "already provisioned (box-1)" in fails("box", "box-1", "box-2", "--dir", str(pki.root))
    assert not pki.bundle("box-2").exists()  # checked before anything was issued
    stdout, _ = ok("box", "box-1", "box-2", "--dir", str(pki.root), "--skip-existing")
    assert "1 box(es) already provisioned, left alone" in stdout
    assert (pki.bundle("box-1") / BUNDLE_KEY_FILE).read_bytes() == before
    assert pki.bundle("box-2").is_dir()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Box-1"], "invalid box id 'Box-1'"),
        (["box-1", "box-1"], "given twice"),
        (["b-{9..1}"], "runs backwards"),
        (["box-1", "box-2", "--config", "{config}"], "one box at a time"),
        (["box-2", "--config", "{config}"], "for box_id 'box-1', not 'box-2'"),
    ],
)
def test_bad_box_requests_are_refused_with_the_reason(
    pki: Layout, tmp_path: Path, args: list[str], message: str
) -> None:
    config = tmp_path / "box.toml"
    config.write_text(BOX_CONFIG)
    args = [a.replace("{config}", str(config)) for a in args]
    assert message in fails("box", *args, "--dir", str(pki.root))
    assert not pki.boxes.exists() or not any(pki.boxes.iterdir())


def test_an_archive_holds_the_bundle_with_its_modes(pki: Layout) -> None:
    ok("box", "box-1", "--dir", str(pki.root), "--archive")
    archive = pki.archive("box-1")
    assert mode(archive) == 0o600
    with tarfile.open(fileobj=io.BytesIO(archive.read_bytes())) as tar:
        members = {m.name: m for m in tar.getmembers()}
        key = members["box-1/tls/client.key"]
        assert key.mode == 0o600
        assert key.uid == 0
        extracted = tar.extractfile(key)
        assert extracted is not None
        assert extracted.read() == (pki.bundle("box-1") / BUNDLE_KEY_FILE).read_bytes()
    assert members["box-1/tls"].isdir()
    assert members["box-1/edge.env"].mode == 0o644


def test_revoking_a_box_updates_crl_and_acl_and_guards_its_id(pki: Layout) -> None:
    ok("box", "box-1", "box-2", "--dir", str(pki.root))
    serial = load_cert((pki.bundle("box-1") / BUNDLE_CERT_FILE).read_bytes()).serial_number
    stdout, _ = ok("revoke", "box-1", "--dir", str(pki.root))
    assert f"revoked box box-1 serial {serial:x}" in stdout

    for crl_path in (pki.ca / "crl.pem", pki.broker / "crl.pem"):
        crl = x509.load_pem_x509_crl(crl_path.read_bytes())
        assert crl.get_revoked_certificate_by_serial_number(serial) is not None
        assert len(list(crl)) == 1
    assert "user box-1\ntopic deny #\n" in (pki.broker / "acl").read_text()

    assert "--replace-revoked" in fails("box", "box-1", "--dir", str(pki.root))
    assert "no valid certificate" in fails("rotate", "boxes", "box-1", "--dir", str(pki.root))
    ok("box", "box-1", "--dir", str(pki.root), "--replace-revoked")
    assert "user box-1" not in (pki.broker / "acl").read_text()
    state = load_state(pki.state)
    assert [r.revoked_at is not None for r in state.records(Kind.BOX, "box-1")] == [True, False]

    assert "no certificate was issued for box(es) box-9" in fails("revoke", "box-9", "--dir", str(pki.root))
    assert "no certificate with serial ff" in fails("revoke", "--serial", "ff", "--dir", str(pki.root))


def test_the_signing_key_rotates_in_three_steps_and_commands_verify_throughout(pki: Layout) -> None:
    ok("box", "box-1", "box-2", "--dir", str(pki.root))
    old = load_state(pki.state).signing.active
    old_cloud_key = (pki.cloud("main") / "command-signing.key").read_bytes()

    _, stderr = ok("rotate", "signing-key", "--dir", str(pki.root))
    assert stderr.splitlines()[-1] == "rewriting bundles: 2/2 (box-2)"
    new = load_state(pki.state).signing.trusted[-1]
    assert new != old
    for box in ("box-1", "box-2"):
        assert json.loads((pki.bundle(box) / "bundle.json").read_text())["command_keys"] == sorted([old, new])
    assert (pki.cloud("main") / "command-signing.key").read_bytes() == old_cloud_key
    assert signing_works(pki)
    assert "under way" in fails("rotate", "signing-key", "--dir", str(pki.root))
    assert "not active yet" in fails("rotate", "signing-key", "--retire", "--dir", str(pki.root))

    ok("rotate", "signing-key", "--activate", "--dir", str(pki.root))
    assert (pki.cloud("main") / "command-signing.key").read_bytes() == pki.signing_private(new).read_bytes()
    assert signing_works(pki)

    ok("rotate", "signing-key", "--retire", "--dir", str(pki.root))
    for box in ("box-1", "box-2"):
        assert [p.name for p in (pki.bundle(box) / "keys").iterdir()] == [f"command-signing-{new}.pub"]
    assert signing_works(pki)
    assert "no old signing key" in fails("rotate", "signing-key", "--retire", "--dir", str(pki.root))


def test_the_bundle_rewrite_keeps_the_box_certificate(pki: Layout) -> None:
    ok("box", "box-1", "--dir", str(pki.root), "--archive")
    before = {f: (pki.bundle("box-1") / f).read_bytes() for f in (BUNDLE_CERT_FILE, BUNDLE_KEY_FILE)}
    archive_before = pki.archive("box-1").read_bytes()
    ok("rotate", "signing-key", "--dir", str(pki.root))
    assert {f: (pki.bundle("box-1") / f).read_bytes() for f in before} == before
    assert pki.archive("box-1").read_bytes() != archive_before  # refreshed with the new key


def test_cloud_identities_are_added_to_the_acl_and_rotated_under_the_same_name(pki: Layout) -> None:
    ok("cloud", "replica-2", "--dir", str(pki.root))
    acl = (pki.broker / "acl").read_text()
    assert "user cloud.main\n" in acl
    assert "user cloud.replica-2\n" in acl
    cert = load_cert((pki.cloud("replica-2") / "client.crt").read_bytes())
    assert common_name(cert) == "cloud.replica-2"
    assert "exists" in fails("cloud", "replica-2", "--dir", str(pki.root))
    assert "invalid cloud identity name" in fails("cloud", "Replica_2", "--dir", str(pki.root))

    old = (pki.cloud("main") / "client.crt").read_bytes()
    ok("rotate", "cloud", "main", "--dir", str(pki.root))
    new = load_cert((pki.cloud("main") / "client.crt").read_bytes())
    assert cert_changed(old, new)
    assert common_name(new) == "cloud.main"
    stdout, _ = ok("status", "--dir", str(pki.root))
    assert [line.split()[-1] for line in stdout.splitlines() if line.startswith("cloud   main")] == [
        "superseded",
        "valid",
    ]
    stdout, _ = ok("revoke", "--superseded", "--dir", str(pki.root))
    assert "revoked cloud main" in stdout
    assert "user cloud.main\n" in (pki.broker / "acl").read_text()  # the identity itself stays


def cert_changed(old_pem: bytes, new: x509.Certificate) -> bool:
    return load_cert(old_pem).serial_number != new.serial_number


def test_the_broker_certificate_is_renewed_for_more_names(pki: Layout) -> None:
    assert "must keep 'broker.example.org'" in fails(
        "rotate", "broker", "--broker-host", "other.example.org", "--dir", str(pki.root)
    )
    ok(
        "rotate",
        "broker",
        "--broker-host",
        "10.0.0.5",
        "--broker-host",
        "broker.example.org",
        "--dir",
        str(pki.root),
    )
    cert = load_cert((pki.broker / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["broker.example.org"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert load_state(pki.state).broker_url == "mqtts://broker.example.org:8884"


def test_rotate_boxes_by_expiry(pki: Layout) -> None:
    ok("box", "box-1", "box-2", "--dir", str(pki.root))
    stdout, _ = ok("rotate", "boxes", "--expiring-within", "30", "--dir", str(pki.root))
    assert "issued" not in stdout
    stdout, _ = ok("rotate", "boxes", "--expiring-within", "100000", "--dir", str(pki.root))
    assert stdout.count("issued box") == 2
    assert run_cli("rotate", "boxes", "box-1", "--all", "--dir", str(pki.root)).exit_code == 2


def test_status_lists_everything_and_check_flags_what_expires_soon(pki: Layout) -> None:
    ok("box", "box-1", "--dir", str(pki.root))
    stdout, _ = ok("status", "--dir", str(pki.root), "--check")
    kinds = [line.split()[0] for line in stdout.splitlines()[:-1]]
    assert kinds == ["ca", "crl", "broker", "cloud", "box"]
    assert "<-- renew" not in stdout
    result = run_cli("status", "--dir", str(pki.root), "--check", "--warn-days", "400")
    assert result.exit_code == 1
    assert result.stdout.count("<-- renew") == 2  # the CRL (365 d) and the cloud (397 d)
    assert "2 item(s) expire within 400 days" in result.stderr


def test_init_needs_an_empty_folder_and_other_commands_an_initialised_one(
    tmp_path: Path, pki: Layout
) -> None:
    assert "is not empty" in fails("init", "--dir", str(pki.root))
    assert "run `docbox provision init` first" in fails("box", "box-1", "--dir", str(tmp_path / "nothing"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--broker-host", "bad host"], "invalid broker host name 'bad host'"),
        (["--box-days", "4000"], "box certificates (4000 days) would outlive the CA (3650 days)"),
        (["--edge-dir", "relative/dir"], "--edge-dir must be an absolute path"),
    ],
)
def test_init_refuses_bad_settings_before_writing_anything(
    tmp_path: Path, args: list[str], message: str
) -> None:
    assert message in fails("init", "--dir", str(tmp_path / "pki"), *args)
    assert not (tmp_path / "pki").exists()


def test_a_cloud_identity_whose_certificates_were_revoked_leaves_the_acl_until_renewed(pki: Layout) -> None:
    serial = f"{load_cert((pki.cloud('main') / 'client.crt').read_bytes()).serial_number:x}"
    ok("revoke", "--serial", serial.upper(), "--dir", str(pki.root))
    assert "cloud.main" not in (pki.broker / "acl").read_text()
    ok("rotate", "cloud", "main", "--dir", str(pki.root))
    assert "user cloud.main\n" in (pki.broker / "acl").read_text()
    assert "no cloud identity 'other'" in fails("rotate", "cloud", "other", "--dir", str(pki.root))


def test_one_command_at_a_time(pki: Layout) -> None:
    fd = os.open(pki.lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert "another `docbox provision` command" in fails("box", "box-1", "--dir", str(pki.root))
    finally:
        os.close(fd)
    ok("box", "box-1", "--dir", str(pki.root))
