"""The X.509 building blocks: what each certificate may be used for, the CRL, bad input."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from docbox_provisioning.errors import ProvisioningError
from docbox_provisioning.pki import (
    Issued,
    Revocation,
    build_crl,
    cert_pem,
    common_name,
    create_ca,
    issue_client,
    issue_server,
    key_pem,
    load_cert,
    load_key,
    now,
)


@pytest.fixture(scope="module")
def ca() -> Issued:
    return create_ca("test CA", days=365)


def test_the_ca_signs_certificates_and_crls_only(ca: Issued) -> None:
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = ca.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    assert ca.key.curve.name == "secp256r1"
    ca.cert.verify_directly_issued_by(ca.cert)


def test_the_server_certificate_names_every_host_and_serves_only(ca: Issued) -> None:
    server = issue_server(ca, "docbox-broker", ["broker.example.org", "127.0.0.1", "::1"], days=30)
    server.cert.verify_directly_issued_by(ca.cert)
    san = server.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["broker.example.org"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    eku = server.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not server.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_client_certificate_authenticates_a_client_only(ca: Issued) -> None:
    client = issue_client(ca, "box-7", days=30)
    client.cert.verify_directly_issued_by(ca.cert)
    assert common_name(client.cert) == "box-7"
    eku = client.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    # Not serverAuth: a stolen box certificate cannot pose as the broker.
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        client.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert client.cert.not_valid_before_utc <= now() < client.cert.not_valid_after_utc
    assert client.cert.not_valid_after_utc - client.cert.not_valid_before_utc == timedelta(days=30)


def test_the_crl_lists_revoked_serials_signed_by_the_ca(ca: Issued) -> None:
    revoked = issue_client(ca, "box-1", days=30)
    kept = issue_client(ca, "box-2", days=30)
    crl = build_crl(ca, [Revocation(revoked.cert.serial_number, now())], number=7, days=10)
    assert crl.is_signature_valid(ca.key.public_key())
    assert crl.get_revoked_certificate_by_serial_number(revoked.cert.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(kept.cert.serial_number) is None
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    assert crl.next_update_utc is not None
    assert timedelta(days=9) < crl.next_update_utc - now() <= timedelta(days=10)


def test_a_certificate_may_not_outlive_its_ca(ca: Issued) -> None:
    with pytest.raises(ProvisioningError, match="outlive the CA"):
        issue_client(ca, "box-1", days=400)


@pytest.mark.parametrize("host", ["", "bad host", "a/b", "user@host", ".example.org"])
def test_invalid_broker_host_names_are_refused(ca: Issued, host: str) -> None:
    with pytest.raises(ProvisioningError, match="invalid broker host"):
        issue_server(ca, "docbox-broker", [host], days=30)


def test_a_broker_certificate_needs_a_host(ca: Issued) -> None:
    with pytest.raises(ProvisioningError, match="at least one host"):
        issue_server(ca, "docbox-broker", [], days=30)


def test_keys_and_certificates_round_trip_and_garbage_is_refused(ca: Issued) -> None:
    assert load_cert(cert_pem(ca.cert)) == ca.cert
    assert load_key(key_pem(ca.key)).private_numbers() == ca.key.private_numbers()
    with pytest.raises(ProvisioningError, match="cannot load certificate"):
        load_cert(b"not a certificate")
    with pytest.raises(ProvisioningError, match="cannot load private key"):
        load_key(b"not a key")
