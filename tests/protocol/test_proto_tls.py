"""TLS client contexts from the files provisioning writes (docbox_protocol.tls)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from docbox_protocol.errors import TlsError
from docbox_protocol.tls import TlsFiles, bundle_context, client_context
from docbox_provisioning.authority import Authority


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An edge bundle written by the provisioning code."""
    root = tmp_path_factory.mktemp("tls") / "pki"
    with Authority.create(root) as pki:
        pki.add_boxes(["box-1", "box-2"])
        return pki.layout.bundle("box-1")


def test_a_bundle_gives_a_strict_client_context(bundle: Path) -> None:
    context = bundle_context(bundle)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    # Only the docbox CA: no public CA can vouch for a look-alike broker.
    assert context.cert_store_stats()["x509_ca"] == 1
    assert len(context.get_ca_certs()) == 1


def test_a_missing_ca_file_is_named(bundle: Path) -> None:
    files = TlsFiles.in_bundle(bundle)
    missing = bundle / "nowhere.crt"
    with pytest.raises(TlsError, match=f"cannot load CA certificate {missing}: No such file"):
        client_context(TlsFiles(missing, files.cert_file, files.key_file))


def test_a_key_of_another_box_is_refused(bundle: Path) -> None:
    files = TlsFiles.in_bundle(bundle)
    other_key = TlsFiles.in_bundle(bundle.parent / "box-2").key_file
    with pytest.raises(TlsError, match=r"cannot load client certificate .*KEY_VALUES_MISMATCH"):
        client_context(TlsFiles(files.ca_file, files.cert_file, other_key))


def test_a_certificate_that_is_no_certificate_is_refused(bundle: Path, tmp_path: Path) -> None:
    files = TlsFiles.in_bundle(bundle)
    garbage = tmp_path / "client.crt"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TlsError, match=f"cannot load client certificate {garbage}"):
        client_context(TlsFiles(files.ca_file, garbage, files.key_file))
