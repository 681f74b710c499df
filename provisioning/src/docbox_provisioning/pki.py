"""X.509 building blocks: EC P-256 keys, the CA, server and client certificates, the CRL.

Everything the broker and its clients verify is made here, with the ``cryptography`` package:

- the CA: ``basicConstraints CA:TRUE, pathlen:0`` (it signs end-entity certificates only) and
  ``keyUsage keyCertSign, cRLSign``;
- the broker's server certificate: ``extendedKeyUsage serverAuth`` and a subjectAltName with
  every DNS name and IP address clients use (clients check the name);
- client certificates (boxes, cloud): ``extendedKeyUsage clientAuth`` only, so a stolen box
  certificate cannot pose as the broker; the subject CN is the MQTT username;
- the CRL, signed by the CA, which the broker reads (``crlfile``).

Certificates start five minutes in the past, so that a verifier whose clock is slightly behind
does not reject a certificate issued a moment ago.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from docbox_provisioning.errors import ProvisioningError

PrivateKey = ec.EllipticCurvePrivateKey

BACKDATE = timedelta(minutes=5)
ORGANIZATION = "docbox"


@dataclass(frozen=True, slots=True)
class Issued:
    """A new key and the certificate issued for it."""

    key: PrivateKey
    cert: x509.Certificate


@dataclass(frozen=True, slots=True)
class Revocation:
    """One CRL entry: which serial, since when."""

    serial: int
    revoked_at: datetime


def now() -> datetime:
    """The current time (UTC, whole seconds, as certificates store it)."""
    return datetime.now(UTC).replace(microsecond=0)


def new_key() -> PrivateKey:
    """A new EC P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    """Serialise a private key as unencrypted PKCS#8 PEM (write it with mode 0600 only)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """Serialise a certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def load_key(data: bytes) -> PrivateKey:
    """Parse a PEM private key written by :func:`key_pem`.

    Raises:
        ProvisioningError: if it is not an EC private key.
    """
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ProvisioningError(f"cannot load private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ProvisioningError("expected an EC private key")
    return key


def load_cert(data: bytes) -> x509.Certificate:
    """Parse one PEM certificate.

    Raises:
        ProvisioningError: if the data is not a PEM certificate.
    """
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ProvisioningError(f"cannot load certificate: {exc}") from exc


def common_name(cert: x509.Certificate) -> str:
    """The subject CN of ``cert``."""
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def create_ca(name: str, *, days: int) -> Issued:
    """Create a self-signed CA valid for ``days`` days."""
    key = new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    start = now() - BACKDATE
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def issue_server(ca: Issued, name: str, hosts: Sequence[str], *, days: int) -> Issued:
    """Issue the broker's server certificate for ``hosts`` (DNS names and IP addresses).

    Raises:
        ProvisioningError: if ``hosts`` is empty.
    """
    check_hosts(hosts)
    return _issue(
        ca,
        name,
        days=days,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=x509.SubjectAlternativeName([_general_name(host) for host in hosts]),
    )


def issue_client(ca: Issued, name: str, *, days: int) -> Issued:
    """Issue a client certificate whose CN (the broker's username for it) is ``name``."""
    return _issue(ca, name, days=days, usage=ExtendedKeyUsageOID.CLIENT_AUTH, san=None)


def build_crl(
    ca: Issued, revocations: Iterable[Revocation], *, number: int, days: int
) -> x509.CertificateRevocationList:
    """Build the CA's CRL listing ``revocations``, valid for ``days`` days.

    A verifier that checks CRLs (Mosquitto with ``crlfile``) rejects every certificate once
    the CRL's ``nextUpdate`` has passed, so the CRL must be re-signed before then.
    """
    start = now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(start - BACKDATE)
        .next_update(start + timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    for entry in revocations:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256())


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    """Serialise a CRL as PEM."""
    return crl.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint of ``cert`` as lower-case hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _issue(
    ca: Issued,
    name: str,
    *,
    days: int,
    usage: x509.ObjectIdentifier,
    san: x509.SubjectAlternativeName | None,
) -> Issued:
    key = new_key()
    start = now() - BACKDATE
    end = start + timedelta(days=days)
    if end > ca.cert.not_valid_after_utc:
        raise ProvisioningError(
            f"a certificate for {name!r} valid for {days} days would outlive the CA "
            f"(expires {ca.cert.not_valid_after_utc:%Y-%m-%d}); issue a shorter one or renew the CA"
        )
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, name),
                ]
            )
        )
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return Issued(key, builder.sign(ca.key, hashes.SHA256()))


def check_hosts(hosts: Sequence[str]) -> None:
    """Check broker host names and addresses before anything is issued for them.

    Raises:
        ProvisioningError: for an empty list or an invalid name.
    """
    if not hosts:
        raise ProvisioningError("the broker certificate needs at least one host name or address")
    for host in hosts:
        _general_name(host)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host or any(c in host for c in " /:@") or host.startswith("."):
        raise ProvisioningError(f"invalid broker host name {host!r}")
    return x509.DNSName(host)
