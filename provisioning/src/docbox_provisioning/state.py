"""The provisioning state file (``pki.json``): settings and the register of issued certificates.

The register is what makes revocation by box id possible: the CRL lists serial numbers, and
only this file knows which serials belong to which box. A certificate is recorded here before
its key leaves the process. The file holds no secrets.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docbox_provisioning.errors import NotInitialisedError, ProvisioningError
from docbox_provisioning.files import write_public

FORMAT = 1


class Kind(StrEnum):
    """Whom a certificate was issued to."""

    BROKER = "broker"
    CLOUD = "cloud"
    BOX = "box"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CertRecord(_Model):
    """One issued certificate.

    Attributes:
        serial: Serial number, lower-case hex.
        kind: Broker, cloud client or box.
        name: ``broker``, the cloud identity's name or the box id.
        common_name: Subject CN (the MQTT username of a client certificate).
        not_before: Start of validity.
        not_after: End of validity.
        fingerprint: SHA-256 of the DER certificate, hex.
        revoked_at: When it was put on the CRL; None while valid.
    """

    serial: str
    kind: Kind
    name: str
    common_name: str
    not_before: datetime
    not_after: datetime
    fingerprint: str
    revoked_at: datetime | None = None


class BrokerSettings(_Model):
    """How clients reach the broker, and where its files live on the broker host.

    Attributes:
        hosts: DNS names and IP addresses in the server certificate; clients connect to the first.
        port: The TLS listener's port.
        listen_address: Address the listener binds to; None = all interfaces.
        install_dir: Folder on the broker host holding the ``broker/`` files (absolute).
    """

    hosts: list[str] = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    listen_address: str | None = None
    install_dir: str


class Validity(_Model):
    """Validity periods in days."""

    ca: int = Field(default=3650, ge=30)
    broker: int = Field(default=825, ge=1)
    cloud: int = Field(default=397, ge=1)
    box: int = Field(default=825, ge=1)
    crl: int = Field(default=365, ge=1)


class SigningKeys(_Model):
    """Command-signing keys by key id.

    Attributes:
        active: The key the cloud signs with.
        trusted: The keys every edge bundle carries (the active one, plus a new or an old one
            during a rotation).
    """

    active: str
    trusted: list[str] = Field(min_length=1)


class PkiState(_Model):
    """Everything ``docbox provision`` remembers between commands."""

    format: int = FORMAT
    broker: BrokerSettings
    edge_dir: str
    cloud_dir: str
    validity: Validity = Field(default_factory=Validity)
    crl_number: int = 0
    certificates: list[CertRecord] = Field(default_factory=list)
    revoked_boxes: list[str] = Field(default_factory=list)
    signing: SigningKeys

    @property
    def broker_url(self) -> str:
        """``mqtts://host:port`` of the broker, as clients use it."""
        host = self.broker.hosts[0]
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return f"mqtts://{host}:{self.broker.port}"

    def records(self, kind: Kind, name: str | None = None) -> list[CertRecord]:
        """The certificates of ``kind`` (and ``name``), oldest first."""
        return [r for r in self.certificates if r.kind is kind and (name is None or r.name == name)]

    def current(self, kind: Kind, name: str) -> CertRecord | None:
        """The most recently issued unrevoked certificate of ``kind`` and ``name``."""
        # Issue order, not not_before: two certificates issued within a second share it.
        valid = [r for r in self.records(kind, name) if r.revoked_at is None]
        return valid[-1] if valid else None

    def names(self, kind: Kind) -> list[str]:
        """Names of ``kind`` with at least one certificate, in order of first issue."""
        return list(dict.fromkeys(r.name for r in self.records(kind)))

    def by_serial(self, serial: str) -> CertRecord:
        """The record of ``serial`` (hex, any case, optional ``0x``).

        Raises:
            ProvisioningError: if no certificate with that serial was issued here.
        """
        wanted = serial.lower().removeprefix("0x").lstrip("0") or "0"
        for record in self.certificates:
            if record.serial.lstrip("0") == wanted:
                return record
        raise ProvisioningError(f"no certificate with serial {serial} was issued here")


def load_state(path: Path) -> PkiState:
    """Read the state file.

    Raises:
        NotInitialisedError: if it does not exist.
        ProvisioningError: if it is not a valid state file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotInitialisedError(
            f"{path.parent} holds no docbox PKI (no {path.name}); run `docbox provision init` first"
        ) from None
    except OSError as exc:
        raise ProvisioningError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        state = PkiState.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        raise ProvisioningError(f"{path} is not a valid docbox PKI state file: {exc}") from exc
    if state.format != FORMAT:
        raise ProvisioningError(f"{path} has format {state.format}; this docbox reads format {FORMAT}")
    return state


def save_state(path: Path, state: PkiState) -> None:
    """Write the state file atomically."""
    write_public(path, (state.model_dump_json(indent=2) + "\n").encode())
