"""TLS client contexts for the MQTT connection, from files written by ``docbox provision``.

Edge and cloud authenticate to the broker with a client certificate from the docbox CA and
trust only that CA for the broker's certificate (never the system's public CAs: anyone can buy
a public certificate for a look-alike name). This module uses the standard library only, so
the edge can build its context without depending on the provisioning package.

An edge bundle (a folder written by ``docbox provision box``) keeps its TLS files at fixed
places, named by the constants below; both sides use them, so they cannot drift apart.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from docbox_protocol.errors import TlsError

BUNDLE_CA_FILE = "tls/ca.crt"
"""The docbox CA certificate inside an edge bundle (trust anchor for the broker)."""

BUNDLE_CERT_FILE = "tls/client.crt"
"""The box's client certificate inside an edge bundle (CN = box id)."""

BUNDLE_KEY_FILE = "tls/client.key"
"""The box's private key inside an edge bundle (mode 0600)."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the CA certificate, the client certificate and its private key are.

    Attributes:
        ca_file: PEM file of the CA(s) that may sign the broker's certificate.
        cert_file: PEM client certificate.
        key_file: PEM private key of the client certificate (unencrypted PKCS#8).
    """

    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def in_bundle(cls, bundle_dir: Path) -> TlsFiles:
        """The TLS files of the edge bundle in ``bundle_dir``."""
        return cls(
            ca_file=bundle_dir / BUNDLE_CA_FILE,
            cert_file=bundle_dir / BUNDLE_CERT_FILE,
            key_file=bundle_dir / BUNDLE_KEY_FILE,
        )


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """Build the TLS context of an MQTT client: TLS 1.2 or newer, broker verified, cert presented.

    The broker's certificate must chain to ``files.ca_file`` and name the host connected to
    (hostname checking stays on).

    Raises:
        TlsError: if a file is missing or unreadable, or is not a valid certificate or key;
            the message names the file.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(files.ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot load CA certificate {files.ca_file}: {_reason(exc)}") from exc
    try:
        context.load_cert_chain(str(files.cert_file), str(files.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(
            f"cannot load client certificate {files.cert_file} with key {files.key_file}: {_reason(exc)}"
        ) from exc
    return context


def bundle_context(bundle_dir: Path) -> ssl.SSLContext:
    """Build the TLS context of a box from its edge bundle (see :func:`client_context`).

    Raises:
        TlsError: if the bundle's TLS files cannot be loaded.
    """
    return client_context(TlsFiles.in_bundle(bundle_dir))


def _reason(exc: OSError | ssl.SSLError) -> str:
    # ssl errors carry a useful ``reason`` ("PEM_LIB", "KEY_VALUES_MISMATCH"); OSErrors a strerror.
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.reason} ({exc.library or 'ssl'})"
    return exc.strerror or str(exc)


__all__ = [
    "BUNDLE_CA_FILE",
    "BUNDLE_CERT_FILE",
    "BUNDLE_KEY_FILE",
    "TlsFiles",
    "bundle_context",
    "client_context",
]
