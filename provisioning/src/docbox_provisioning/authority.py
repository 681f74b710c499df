"""The provisioning operations on one PKI folder: init, issue, revoke, rotate, report.

Every operation runs under an exclusive lock on the folder and records a certificate in the
state file before its private key is written anywhere, so that whatever was handed out can be
revoked by name. Private keys are written with mode 0600 into 0700 folders and never returned
in a printable form.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from docbox_protocol.signing import generate_private_key, key_id, private_key_pem, public_key_pem
from docbox_protocol.tls import BUNDLE_CERT_FILE, BUNDLE_KEY_FILE
from docbox_provisioning import layout as names
from docbox_provisioning.boxids import check_box_id
from docbox_provisioning.broker_config import (
    BROKER_CN,
    ListenerConfig,
    cloud_common_name,
    render_acl,
    render_mosquitto_conf,
)
from docbox_provisioning.bundles import BOX_CONFIG, BundleContents, read_bundle_file, write_bundle
from docbox_provisioning.errors import NotInitialisedError, ProvisioningError, UnknownBoxError
from docbox_provisioning.files import secret_dir, write_public, write_secret
from docbox_provisioning.layout import Layout
from docbox_provisioning.pki import (
    Issued,
    Revocation,
    build_crl,
    cert_pem,
    check_hosts,
    create_ca,
    crl_pem,
    fingerprint,
    issue_client,
    issue_server,
    key_pem,
    load_cert,
    load_key,
    now,
)
from docbox_provisioning.progress import Progress, silent
from docbox_provisioning.state import (
    BrokerSettings,
    CertRecord,
    Kind,
    PkiState,
    SigningKeys,
    Validity,
    load_state,
    save_state,
)

DEFAULT_BROKER_HOSTS = ("localhost", "127.0.0.1")
DEFAULT_CLOUD = "main"
_CLOUD_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True, slots=True)
class InitOptions:
    """Settings of a new PKI.

    Attributes:
        broker_hosts: Names and addresses in the broker certificate; clients use the first.
        broker_port: Port of the broker's TLS listener.
        listen_address: Address the listener binds to; None = all interfaces.
        broker_dir: Where the ``broker/`` files will be on the broker host; None = this
            folder's ``broker/`` (absolute), for a broker on the same machine.
        edge_dir: Where a bundle will be on a box (the paths in edge.env).
        cloud_dir: Where a cloud identity's files will be on its host (the paths in cloud.env).
        validity: Validity periods.
        ca_name: CN of the CA.
    """

    broker_hosts: Sequence[str] = DEFAULT_BROKER_HOSTS
    broker_port: int = 8883
    listen_address: str | None = None
    broker_dir: str | None = None
    edge_dir: str = "/etc/docbox/edge"
    cloud_dir: str = "/etc/docbox/cloud"
    validity: Validity = field(default_factory=Validity)
    ca_name: str = "docbox CA"


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One line of :meth:`Authority.status`."""

    what: str
    name: str
    serial: str
    not_after: datetime
    state: str

    def days_left(self, at: datetime) -> int:
        """Whole days until ``not_after`` (negative once passed)."""
        return (self.not_after - at) // timedelta(days=1)


class Authority:
    """An opened, locked PKI folder. Use :meth:`create` or :meth:`open` (context managers)."""

    def __init__(self, layout: Layout, state: PkiState, ca: Issued) -> None:
        self.layout = layout
        self.state = state
        self._ca = ca

    # ------------------------------------------------------------------ opening

    @classmethod
    @contextlib.contextmanager
    def create(cls, root: Path, options: InitOptions | None = None) -> Iterator[Authority]:
        """Create a PKI in ``root`` (missing or empty): CA, signing key, broker, cloud ``main``.

        Raises:
            ProvisioningError: if ``root`` is not empty or an option is invalid.
        """
        options = options or InitOptions()
        _check_options(options)
        layout = Layout(root)
        if root.exists() and any(p.name != ".lock" for p in root.iterdir()):
            raise ProvisioningError(f"{root} is not empty; `docbox provision init` needs a new folder")
        secret_dir(root)
        with _locked(layout):
            ca = create_ca(options.ca_name, days=options.validity.ca)
            secret_dir(layout.ca)
            write_secret(layout.ca / names.CA_KEY, key_pem(ca.key))
            write_public(layout.ca / names.CA_CERT, cert_pem(ca.cert))
            kid = _new_signing_key(layout)
            state = PkiState(
                broker=BrokerSettings(
                    hosts=list(options.broker_hosts),
                    port=options.broker_port,
                    listen_address=options.listen_address,
                    install_dir=options.broker_dir or str(layout.broker.absolute()),
                ),
                edge_dir=options.edge_dir,
                cloud_dir=options.cloud_dir,
                validity=options.validity,
                signing=SigningKeys(active=kid, trusted=[kid]),
            )
            authority = cls(layout, state, ca)
            authority._issue_broker(list(options.broker_hosts))
            authority._issue_cloud(DEFAULT_CLOUD)
            authority.write_crl()
            authority._write_broker_config()
            yield authority

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: Path) -> Iterator[Authority]:
        """Open the PKI in ``root`` for changes (one command at a time).

        Raises:
            NotInitialisedError: if ``root`` holds no PKI.
            ProvisioningError: if another command holds the lock or a file is damaged.
        """
        layout = Layout(root)
        if not layout.state.exists():
            load_state(layout.state)  # raises NotInitialisedError with the path
        with _locked(layout):
            state = load_state(layout.state)
            ca = Issued(
                key=load_key(_read(layout.ca / names.CA_KEY)),
                cert=load_cert(_read(layout.ca / names.CA_CERT)),
            )
            yield cls(layout, state, ca)

    # ------------------------------------------------------------------ boxes

    def add_boxes(
        self,
        box_ids: Sequence[str],
        *,
        box_config: bytes | None = None,
        archive: bool = False,
        skip_existing: bool = False,
        replace_revoked: bool = False,
        progress: Progress | None = None,
    ) -> list[CertRecord]:
        """Issue a client certificate and write an edge bundle for each new box.

        Args:
            box_ids: Valid box ids.
            box_config: A box configuration (TOML) to put into the bundle; one box only.
            archive: Also write ``boxes/<box_id>.tar.gz``.
            skip_existing: Leave boxes that already have a bundle alone instead of failing.
            replace_revoked: Allow a new certificate for a revoked box id (a replacement
                computer for the same box); the broker must have been restarted since the
                revocation, or a connection from the old certificate regains its rights.
            progress: Receives one step per box.

        Returns:
            The new certificates.

        Raises:
            ProvisioningError: for an invalid id or configuration, an existing box (unless
                ``skip_existing``) or a revoked one (unless ``replace_revoked``); checked
                for all boxes before anything is issued.
        """
        for box_id in box_ids:
            check_box_id(box_id)
        if box_config is not None:
            if len(box_ids) != 1:
                raise ProvisioningError("a box configuration can be given for one box at a time")
            _check_box_config(box_config, box_ids[0])
        existing = [b for b in box_ids if self.state.current(Kind.BOX, b) is not None]
        revoked = [b for b in box_ids if b in self.state.revoked_boxes]
        if existing and not skip_existing:
            raise ProvisioningError(
                f"{len(existing)} box(es) already provisioned ({_some(existing)}); "
                "use `docbox provision rotate boxes` for new certificates, or --skip-existing"
            )
        if revoked and not replace_revoked:
            raise ProvisioningError(
                f"box(es) {_some(revoked)} were revoked; restart the broker, then pass "
                "--replace-revoked to provision a replacement"
            )
        todo = [b for b in box_ids if b not in existing]
        progress = progress or silent(len(todo), "boxes")
        issued = []
        for box_id in todo:
            issued.append(self._issue_box(box_id, box_config=box_config, archive=archive))
            progress.advance(box_id)
        if revoked:
            self.state.revoked_boxes = [b for b in self.state.revoked_boxes if b not in revoked]
            self._save()
            self._write_broker_config()
        return issued

    def rotate_boxes(self, box_ids: Sequence[str], *, progress: Progress | None = None) -> list[CertRecord]:
        """Issue new certificates (and keys) for provisioned boxes and rewrite their bundles.

        The old certificates stay valid until they expire or ``revoke --superseded`` runs,
        so a box keeps working until its new bundle is installed.

        Raises:
            UnknownBoxError: if a box has no valid certificate (never provisioned, or revoked).
        """
        missing = [b for b in box_ids if self.state.current(Kind.BOX, b) is None]
        if missing:
            raise UnknownBoxError(f"no valid certificate for box(es) {_some(missing)}; provision them first")
        progress = progress or silent(len(box_ids), "boxes")
        issued = []
        for box_id in box_ids:
            folder = self.layout.bundle(box_id)
            config = (folder / BOX_CONFIG).read_bytes() if (folder / BOX_CONFIG).exists() else None
            issued.append(
                self._issue_box(box_id, box_config=config, archive=self.layout.archive(box_id).exists())
            )
            progress.advance(box_id)
        return issued

    def boxes(self, *, expiring_within_days: int | None = None) -> list[str]:
        """Box ids with a valid certificate (optionally only those expiring within N days)."""
        result = []
        limit = now() + timedelta(days=expiring_within_days) if expiring_within_days is not None else None
        for box_id in self.state.names(Kind.BOX):
            record = self.state.current(Kind.BOX, box_id)
            if record is not None and (limit is None or record.not_after <= limit):
                result.append(box_id)
        return result

    # ------------------------------------------------------------------ broker and cloud

    def add_cloud(self, name: str) -> CertRecord:
        """Issue a further cloud identity (one per replica) and allow it in the ACL.

        Raises:
            ProvisioningError: for an invalid or existing name.
        """
        _check_cloud_name(name)
        if name in self.state.names(Kind.CLOUD):
            raise ProvisioningError(f"cloud identity {name!r} exists; use `rotate cloud {name}`")
        record = self._issue_cloud(name)
        self._write_broker_config()
        return record

    def rotate_cloud(self, name: str) -> CertRecord:
        """Issue a new certificate for cloud identity ``name`` (same CN, so the same ACL entry).

        Also for an identity whose certificates were all revoked (it gets its ACL entry back).

        Raises:
            ProvisioningError: if the identity does not exist.
        """
        if name not in self.state.names(Kind.CLOUD):
            raise ProvisioningError(
                f"no cloud identity {name!r}; add it with `docbox provision cloud {name}`"
            )
        record = self._issue_cloud(name)
        self._write_broker_config()
        return record

    def rotate_broker(self, hosts: Sequence[str] | None = None) -> CertRecord:
        """Issue a new server certificate (optionally for other host names) into ``broker/``.

        Clients trust the CA, not this certificate, so nothing changes for them; the old
        certificate stays valid until it expires.

        Raises:
            ProvisioningError: if ``hosts`` drops the host the clients connect to.
        """
        if hosts:
            if self.state.broker.hosts[0] not in hosts:
                raise ProvisioningError(
                    f"the new host list must keep {self.state.broker.hosts[0]!r}: the bundles connect to it"
                )
            ordered = [self.state.broker.hosts[0], *(h for h in hosts if h != self.state.broker.hosts[0])]
            self.state.broker.hosts = ordered
        return self._issue_broker(self.state.broker.hosts)

    # ------------------------------------------------------------------ revocation

    def revoke_boxes(self, box_ids: Sequence[str]) -> list[CertRecord]:
        """Revoke every certificate of these boxes and deny them everything in the ACL.

        Raises:
            UnknownBoxError: if a box was never provisioned here.
        """
        unknown = [b for b in box_ids if not self.state.records(Kind.BOX, b)]
        if unknown:
            raise UnknownBoxError(f"no certificate was issued for box(es) {_some(unknown)}")
        revoked = self._revoke(r for b in box_ids for r in self.state.records(Kind.BOX, b))
        self.state.revoked_boxes = sorted(set(self.state.revoked_boxes) | set(box_ids))
        self._save()
        self.write_crl()
        self._write_broker_config()
        return revoked

    def revoke_serials(self, serials: Sequence[str]) -> list[CertRecord]:
        """Revoke single certificates by serial (e.g. a cloud certificate after a rotation).

        Raises:
            ProvisioningError: for an unknown serial.
        """
        records = [self.state.by_serial(s) for s in serials]
        revoked = self._revoke(records)
        self.write_crl()
        self._write_broker_config()  # a cloud identity left without a valid certificate leaves the ACL
        return revoked

    def revoke_superseded(self) -> list[CertRecord]:
        """Revoke every certificate that has a newer valid one for the same broker, cloud or box."""
        superseded = []
        for kind in Kind:
            for name in self.state.names(kind):
                current = self.state.current(kind, name)
                superseded += [
                    r for r in self.state.records(kind, name) if r.revoked_at is None and r is not current
                ]
        revoked = self._revoke(superseded)
        self.write_crl()
        self._write_broker_config()
        return revoked

    def write_crl(self) -> x509.CertificateRevocationList:
        """Sign a new CRL (next number, full validity) into ``ca/`` and ``broker/``."""
        self.state.crl_number += 1
        crl = build_crl(
            self._ca,
            (
                Revocation(int(r.serial, 16), r.revoked_at)
                for r in self.state.certificates
                if r.revoked_at is not None
            ),
            number=self.state.crl_number,
            days=self.state.validity.crl,
        )
        self._save()
        data = crl_pem(crl)
        write_public(self.layout.ca / names.CRL, data)
        write_public(self.layout.broker / names.CRL, data)
        return crl

    # ------------------------------------------------------------------ command-signing keys

    def stage_signing_key(self, *, progress: Progress | None = None) -> str:
        """Step 1 of a rotation: a new key pair, trusted by every bundle, not yet used.

        Returns:
            The new key id.

        Raises:
            ProvisioningError: if a rotation is already under way.
        """
        if len(self.state.signing.trusted) > 1:
            raise ProvisioningError(
                "a signing-key rotation is under way; finish it (--activate, then --retire) first"
            )
        kid = _new_signing_key(self.layout)
        self.state.signing.trusted.append(kid)
        self._save()
        self._rewrite_bundles(progress)
        return kid

    def activate_signing_key(self) -> str:
        """Step 2: the cloud signs with the staged key (every cloud folder gets it).

        Raises:
            ProvisioningError: if no key is staged.
        """
        staged = [k for k in self.state.signing.trusted if k != self.state.signing.active]
        if not staged:
            raise ProvisioningError("no staged signing key; run `rotate signing-key` first")
        self.state.signing.active = staged[-1]
        self._save()
        private = _read(self.layout.signing_private(staged[-1]))
        for name in self.state.names(Kind.CLOUD):
            write_secret(self.layout.cloud(name) / names.SIGNING_KEY, private)
        return staged[-1]

    def retire_signing_keys(self, *, progress: Progress | None = None) -> list[str]:
        """Step 3: bundles trust only the active key again.

        Returns:
            The retired key ids.

        Raises:
            ProvisioningError: if nothing is left to retire, or the staged key is not active yet.
        """
        retired = [k for k in self.state.signing.trusted if k != self.state.signing.active]
        if not retired:
            raise ProvisioningError("no old signing key to retire")
        if self.state.signing.active != self.state.signing.trusted[-1]:
            # Retiring now would drop the staged key, not the old one.
            raise ProvisioningError(
                f"the staged key {self.state.signing.trusted[-1]} is not active yet; run --activate first"
            )
        self.state.signing.trusted = [self.state.signing.active]
        self._save()
        self._rewrite_bundles(progress)
        return retired

    # ------------------------------------------------------------------ reporting

    def status(self) -> list[StatusRow]:
        """The CA, the CRL and every certificate with its state, CA first."""
        rows = [
            StatusRow(
                "ca",
                self._ca.cert.subject.rfc4514_string(),
                f"{self._ca.cert.serial_number:x}",
                self._ca.cert.not_valid_after_utc,
                "valid",
            ),
        ]
        crl = x509.load_pem_x509_crl(_read(self.layout.ca / names.CRL))
        next_update = crl.next_update_utc
        if next_update is not None:
            rows.append(StatusRow("crl", f"number {self.state.crl_number}", "-", next_update, "valid"))
        at = now()
        for record in self.state.certificates:
            if record.revoked_at is not None:
                state = "revoked"
            elif record.not_after <= at:
                state = "expired"
            elif record is not self.state.current(record.kind, record.name):
                state = "superseded"
            else:
                state = "valid"
            rows.append(StatusRow(record.kind.value, record.name, record.serial, record.not_after, state))
        return rows

    # ------------------------------------------------------------------ internals

    def _issue_box(self, box_id: str, *, box_config: bytes | None, archive: bool) -> CertRecord:
        issued = issue_client(self._ca, box_id, days=self.state.validity.box)
        record = self._record(Kind.BOX, box_id, issued.cert)
        self._write_box_bundle(box_id, issued.cert, key_pem(issued.key), box_config, archive=archive)
        return record

    def _write_box_bundle(
        self, box_id: str, cert: x509.Certificate, private: bytes, box_config: bytes | None, *, archive: bool
    ) -> None:
        contents = BundleContents(
            box_id=box_id,
            broker_url=self.state.broker_url,
            install_dir=self.state.edge_dir,
            ca_pem=cert_pem(self._ca.cert),
            cert_pem=cert_pem(cert),
            key_pem=private,
            serial=f"{cert.serial_number:x}",
            not_after=cert.not_valid_after_utc.isoformat(),
            public_keys={k: _read(self.layout.signing_public(k)) for k in self.state.signing.trusted},
            box_config=box_config,
        )
        secret_dir(self.layout.boxes)
        write_bundle(
            self.layout.bundle(box_id), contents, archive=self.layout.archive(box_id) if archive else None
        )

    def _rewrite_bundles(self, progress: Progress | None) -> None:
        """Write every valid box's bundle again (same certificate and key, current signing keys)."""
        box_ids = self.boxes()
        progress = progress or silent(len(box_ids), "bundles")
        for box_id in box_ids:
            folder = self.layout.bundle(box_id)
            cert = load_cert(read_bundle_file(folder, BUNDLE_CERT_FILE))
            private = read_bundle_file(folder, BUNDLE_KEY_FILE)
            config = (folder / BOX_CONFIG).read_bytes() if (folder / BOX_CONFIG).exists() else None
            self._write_box_bundle(
                box_id, cert, private, config, archive=self.layout.archive(box_id).exists()
            )
            progress.advance(box_id)

    def _issue_broker(self, hosts: Sequence[str]) -> CertRecord:
        issued = issue_server(self._ca, BROKER_CN, hosts, days=self.state.validity.broker)
        record = self._record(Kind.BROKER, "broker", issued.cert)
        folder = secret_dir(self.layout.broker)
        write_public(folder / names.CA_CERT, cert_pem(self._ca.cert))
        write_secret(folder / names.SERVER_KEY, key_pem(issued.key))
        write_public(folder / names.SERVER_CERT, cert_pem(issued.cert))
        return record

    def _issue_cloud(self, name: str) -> CertRecord:
        issued = issue_client(self._ca, cloud_common_name(name), days=self.state.validity.cloud)
        record = self._record(Kind.CLOUD, name, issued.cert)
        secret_dir(self.layout.clouds)
        folder = secret_dir(self.layout.cloud(name))
        d = self.state.cloud_dir.rstrip("/")
        write_public(folder / names.CA_CERT, cert_pem(self._ca.cert))
        write_secret(folder / names.CLIENT_KEY, key_pem(issued.key))
        write_public(folder / names.CLIENT_CERT, cert_pem(issued.cert))
        write_secret(
            folder / names.SIGNING_KEY, _read(self.layout.signing_private(self.state.signing.active))
        )
        env = [
            f"# docbox cloud settings of identity {name!r} (MQTT user {cloud_common_name(name)}),",
            f"# generated by `docbox provision`. The paths assume these files are installed at {d}.",
            f"DOCBOX_MQTT_URL={self.state.broker_url}",
            f"DOCBOX_MQTT_CA_FILE={d}/{names.CA_CERT}",
            f"DOCBOX_MQTT_CERT_FILE={d}/{names.CLIENT_CERT}",
            f"DOCBOX_MQTT_KEY_FILE={d}/{names.CLIENT_KEY}",
            f"DOCBOX_SIGNING_KEY_FILE={d}/{names.SIGNING_KEY}",
        ]
        write_public(folder / names.CLOUD_ENV, ("\n".join(env) + "\n").encode())
        return record

    def _record(self, kind: Kind, name: str, cert: x509.Certificate) -> CertRecord:
        """Register ``cert`` and save the state (before its key is written anywhere)."""
        record = CertRecord(
            serial=f"{cert.serial_number:x}",
            kind=kind,
            name=name,
            common_name=cert.subject.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            fingerprint=fingerprint(cert),
        )
        self.state.certificates.append(record)
        self._save()
        return record

    def _revoke(self, records: Iterator[CertRecord] | Sequence[CertRecord]) -> list[CertRecord]:
        at = now()
        revoked = []
        for record in records:
            if record.revoked_at is None:
                record.revoked_at = at
                revoked.append(record)
        self._save()
        return revoked

    def _write_broker_config(self) -> None:
        folder = secret_dir(self.layout.broker)
        clouds = [n for n in self.state.names(Kind.CLOUD) if self.state.current(Kind.CLOUD, n) is not None]
        write_public(folder / names.BROKER_ACL, render_acl(clouds, self.state.revoked_boxes).encode())
        listener = ListenerConfig(
            port=self.state.broker.port,
            install_dir=self.state.broker.install_dir,
            listen_address=self.state.broker.listen_address,
        )
        write_public(folder / names.BROKER_CONF, render_mosquitto_conf(listener).encode())

    def _save(self) -> None:
        save_state(self.layout.state, self.state)


# ---------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProvisioningError(
                f"another `docbox provision` command is working on {layout.root}; try again when it is done"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _new_signing_key(layout: Layout) -> str:
    key = generate_private_key()
    kid = key_id(key.public_key())
    secret_dir(layout.signing)
    write_secret(layout.signing_private(kid), private_key_pem(key))
    write_public(layout.signing_public(kid), public_key_pem(key.public_key()))
    return kid


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ProvisioningError(f"{path} is missing; the PKI folder is incomplete") from None
    except OSError as exc:
        raise ProvisioningError(f"cannot read {path}: {exc.strerror}") from exc


def _check_options(options: InitOptions) -> None:
    """Refuse bad settings before anything is written (no half-made folder)."""
    check_hosts(options.broker_hosts)
    validity = options.validity
    for what, days in (("broker", validity.broker), ("cloud", validity.cloud), ("box", validity.box)):
        if days > validity.ca:
            raise ProvisioningError(
                f"{what} certificates ({days} days) would outlive the CA ({validity.ca} days)"
            )
    for what, path in (
        ("--broker-dir", options.broker_dir),
        ("--edge-dir", options.edge_dir),
        ("--cloud-dir", options.cloud_dir),
    ):
        if path is not None and not path.startswith("/"):
            raise ProvisioningError(f"{what} must be an absolute path, not {path!r}")


def _check_box_config(data: bytes, box_id: str) -> None:
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProvisioningError(f"the box configuration is not valid TOML: {exc}") from exc
    if parsed.get("box_id") != box_id:
        raise ProvisioningError(
            f"the box configuration is for box_id {parsed.get('box_id')!r}, not {box_id!r}"
        )


def _check_cloud_name(name: str) -> None:
    if not name or len(name) > 32 or not set(name) <= _CLOUD_NAME_CHARS or name.startswith("-"):
        raise ProvisioningError(
            f"invalid cloud identity name {name!r}: 1-32 lower-case letters, digits and '-'"
        )


def _some(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


__all__ = ["Authority", "InitOptions", "NotInitialisedError", "StatusRow"]
