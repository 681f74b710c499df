"""``docbox provision …`` commands.

Output names files, serial numbers and key ids, never key material. Progress of long
operations goes to stderr, results to stdout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from docbox_provisioning.authority import Authority
    from docbox_provisioning.progress import Progress
    from docbox_provisioning.state import CertRecord

DirOption = Annotated[
    Path,
    typer.Option("--dir", "--out", envvar="DOCBOX_PKI_DIR", help="The PKI folder", file_okay=False),
]

RELOAD_HINT = "then reload the broker (systemctl reload mosquitto, or SIGHUP)"


def register(root: typer.Typer) -> None:
    """Add the ``provision`` command group to the docbox CLI."""
    group = typer.Typer(help="Create keys, certificates, the broker configuration and device bundles.")
    rotate = typer.Typer(help="Renew certificates and keys before they expire, without downtime.")
    group.add_typer(rotate, name="rotate")

    @group.command("signing-key")
    def signing_key(
        out: Annotated[Path, typer.Option("--out", help="Folder for the key files")] = Path("secrets"),
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing key")] = False,
    ) -> None:
        """Create a stand-alone Ed25519 command-signing key pair (private key mode 0600).

        `docbox provision init` makes one as part of a PKI folder; this is for setups without.
        """
        from docbox_provisioning.signing_keys import create_signing_key

        try:
            files = create_signing_key(out, overwrite=overwrite)
        except FileExistsError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        # The private key is never printed: only where it is and the public key's id.
        typer.echo(f"private key: {files.private} (mode 0600; give it to the cloud only)")
        typer.echo(f"public key:  {files.public} (key id {files.key_id}; goes into every edge bundle)")

    @group.command("init")
    def init(
        directory: DirOption = Path("pki"),
        broker_host: Annotated[
            list[str] | None,
            typer.Option(
                "--broker-host",
                help="DNS name or IP address of the broker (repeatable; clients use the first). "
                "Default: localhost and 127.0.0.1",
            ),
        ] = None,
        broker_port: Annotated[int, typer.Option("--broker-port", min=1, max=65535)] = 8883,
        listen_address: Annotated[
            str | None,
            typer.Option("--listen-address", help="Address the TLS listener binds to (default: all)"),
        ] = None,
        broker_dir: Annotated[
            str | None,
            typer.Option("--broker-dir", help="Where broker/ will be on the broker host (default: here)"),
        ] = None,
        edge_dir: Annotated[
            str, typer.Option("--edge-dir", help="Where a bundle will be on its box")
        ] = "/etc/docbox/edge",
        cloud_dir: Annotated[
            str, typer.Option("--cloud-dir", help="Where a cloud identity's files will be on its host")
        ] = "/etc/docbox/cloud",
        ca_days: Annotated[int, typer.Option("--ca-days", min=30)] = 3650,
        broker_days: Annotated[int, typer.Option("--broker-days", min=1)] = 825,
        cloud_days: Annotated[int, typer.Option("--cloud-days", min=1)] = 397,
        box_days: Annotated[int, typer.Option("--box-days", min=1)] = 825,
        crl_days: Annotated[int, typer.Option("--crl-days", min=1)] = 365,
    ) -> None:
        """Create a PKI folder: CA, signing key, broker certificate and configuration, cloud identity."""
        from docbox_provisioning.authority import DEFAULT_BROKER_HOSTS, Authority, InitOptions
        from docbox_provisioning.state import Validity

        with _errors():
            options = InitOptions(
                broker_hosts=tuple(broker_host or DEFAULT_BROKER_HOSTS),
                broker_port=broker_port,
                listen_address=listen_address,
                broker_dir=broker_dir,
                edge_dir=edge_dir,
                cloud_dir=cloud_dir,
                validity=Validity(
                    ca=ca_days, broker=broker_days, cloud=cloud_days, box=box_days, crl=crl_days
                ),
            )
            with Authority.create(directory, options) as pki:
                layout, state = pki.layout, pki.state
                typer.echo(f"PKI created in {layout.root}")
                typer.echo(f"  CA:        {layout.ca}/ (keep ca.key offline; it signs everything)")
                typer.echo(
                    f"  broker:    {layout.broker}/ (docbox.conf, acl, certificates) for {state.broker_url}"
                )
                typer.echo(f"  cloud:     {layout.cloud('main')}/ (identity 'main', cloud.env)")
                typer.echo(f"  signing:   key id {state.signing.active}")
                typer.echo("next: `docbox provision box BOX_ID` for each box")

    @group.command("box")
    def box(
        box_ids: Annotated[list[str], typer.Argument(help="Box ids; 'office-{001..500}' expands to a range")],
        directory: DirOption = Path("pki"),
        config: Annotated[
            Path | None,
            typer.Option(
                "--config", help="Box configuration (TOML) to include; one box only", dir_okay=False
            ),
        ] = None,
        archive: Annotated[bool, typer.Option("--archive", help="Also write boxes/<box_id>.tar.gz")] = False,
        skip_existing: Annotated[
            bool, typer.Option("--skip-existing", help="Leave provisioned boxes alone instead of failing")
        ] = False,
        replace_revoked: Annotated[
            bool,
            typer.Option(
                "--replace-revoked",
                help="Provision a replacement for a revoked box id (restart the broker first)",
            ),
        ] = False,
    ) -> None:
        """Issue a client certificate (CN = box id) and write the edge bundle of each box."""
        from docbox_provisioning.boxids import expand_box_ids

        with _errors(), _opened(directory) as pki:
            ids = expand_box_ids(box_ids)
            config_bytes = _read_config(config) if config is not None else None
            issued = pki.add_boxes(
                ids,
                box_config=config_bytes,
                archive=archive,
                skip_existing=skip_existing,
                replace_revoked=replace_revoked,
                progress=_progress(len(ids), "issuing box certificates"),
            )
            _report_issued(issued, lambda r: str(pki.layout.bundle(r.name)))
            skipped = len(ids) - len(issued)
            if skipped:
                typer.echo(f"{skipped} box(es) already provisioned, left alone")
            if replace_revoked:
                typer.echo(f"ACL updated: {RELOAD_HINT}")

    @group.command("cloud")
    def cloud(
        name: Annotated[str, typer.Argument(help="Name of the identity, e.g. replica-2")],
        directory: DirOption = Path("pki"),
    ) -> None:
        """Issue a further cloud identity (one per cloud replica: the broker makes the client id the CN)."""
        with _errors(), _opened(directory) as pki:
            record = pki.add_cloud(name)
            _report_issued([record], lambda r: str(pki.layout.cloud(r.name)))
            typer.echo(f"ACL updated: {RELOAD_HINT}")

    @group.command("revoke")
    def revoke(
        box_ids: Annotated[
            list[str] | None, typer.Argument(help="Boxes to revoke (every certificate they have)")
        ] = None,
        directory: DirOption = Path("pki"),
        serial: Annotated[
            list[str] | None,
            typer.Option("--serial", help="Revoke one certificate by serial (hex); repeatable"),
        ] = None,
        superseded: Annotated[
            bool, typer.Option("--superseded", help="Revoke every certificate replaced by a rotation")
        ] = False,
    ) -> None:
        """Revoke certificates: the CRL refuses them at connect, the ACL denies a revoked box everything."""
        from docbox_provisioning.boxids import expand_box_ids

        if not box_ids and not serial and not superseded:
            raise typer.BadParameter("name boxes, --serial or --superseded")
        with _errors(), _opened(directory) as pki:
            revoked: list[CertRecord] = []
            if box_ids:
                revoked += pki.revoke_boxes(expand_box_ids(box_ids))
            if serial:
                revoked += pki.revoke_serials(serial)
            if superseded:
                revoked += pki.revoke_superseded()
            for record in revoked:
                typer.echo(f"revoked {record.kind.value} {record.name} serial {record.serial}")
            typer.echo(f"{len(revoked)} certificate(s) revoked; CRL number {pki.state.crl_number} written")
            typer.echo(f"copy broker/crl.pem and broker/acl to the broker, {RELOAD_HINT}")
            if box_ids:
                typer.echo(
                    "a revoked box's open connection loses every right at the reload; "
                    "restart the broker to close it"
                )

    @group.command("crl")
    def crl(directory: DirOption = Path("pki")) -> None:
        """Re-sign the CRL (run it well before its next update, e.g. monthly from cron)."""
        with _errors(), _opened(directory) as pki:
            written = pki.write_crl()
            typer.echo(f"CRL number {pki.state.crl_number} valid until {written.next_update_utc:%Y-%m-%d}")
            typer.echo(f"copy broker/crl.pem to the broker, {RELOAD_HINT}")

    @group.command("status")
    def status(
        directory: DirOption = Path("pki"),
        warn_days: Annotated[int, typer.Option("--warn-days", min=0, help="Flag what expires sooner")] = 30,
        check: Annotated[
            bool, typer.Option("--check", help="Exit with 1 if something in use expires within --warn-days")
        ] = False,
    ) -> None:
        """List the CA, the CRL and every certificate with its expiry."""
        from docbox_provisioning.pki import now

        with _errors(), _opened(directory) as pki:
            rows = pki.status()
            signing = pki.state.signing
        at = now()
        due = 0
        for row in rows:
            days = row.days_left(at)
            flag = ""
            if row.state == "valid" and days < warn_days:
                flag = "  <-- renew"
                due += 1
            typer.echo(
                f"{row.what:<7} {row.name[:40]:<40} {row.serial[:20]:<20} "
                f"{row.not_after:%Y-%m-%d} {days:>5}d {row.state}{flag}"
            )
        typer.echo(f"signing keys: active {signing.active}, trusted {', '.join(signing.trusted)}")
        if check and due:
            typer.echo(f"{due} item(s) expire within {warn_days} days", err=True)
            raise typer.Exit(1)

    @rotate.command("broker")
    def rotate_broker(
        directory: DirOption = Path("pki"),
        broker_host: Annotated[
            list[str] | None,
            typer.Option("--broker-host", help="New list of names/addresses (must keep the first)"),
        ] = None,
    ) -> None:
        """New server certificate for the broker; clients trust the CA, so they need nothing new."""
        with _errors(), _opened(directory) as pki:
            record = pki.rotate_broker(broker_host)
            _report_issued([record], lambda _r: str(pki.layout.broker))
            typer.echo(f"copy server.crt and server.key to the broker, {RELOAD_HINT}")

    @rotate.command("cloud")
    def rotate_cloud(
        name: Annotated[str, typer.Argument(help="The cloud identity")] = "main",
        directory: DirOption = Path("pki"),
    ) -> None:
        """New certificate for a cloud identity (the old one stays valid until it expires)."""
        with _errors(), _opened(directory) as pki:
            record = pki.rotate_cloud(name)
            _report_issued([record], lambda r: str(pki.layout.cloud(r.name)))
            typer.echo("install the new client.crt/client.key and restart that cloud replica")

    @rotate.command("boxes")
    def rotate_boxes(
        box_ids: Annotated[
            list[str] | None, typer.Argument(help="Boxes ('office-{001..500}' expands)")
        ] = None,
        directory: DirOption = Path("pki"),
        all_boxes: Annotated[bool, typer.Option("--all", help="Every provisioned box")] = False,
        expiring_within: Annotated[
            int | None,
            typer.Option("--expiring-within", min=0, help="Boxes whose certificate expires within N days"),
        ] = None,
    ) -> None:
        """New certificates and bundles; old certificates stay valid until `revoke --superseded`."""
        from docbox_provisioning.boxids import expand_box_ids

        chosen = sum([bool(box_ids), all_boxes, expiring_within is not None])
        if chosen != 1:
            raise typer.BadParameter("name boxes, or give --all or --expiring-within (one of them)")
        with _errors(), _opened(directory) as pki:
            ids = expand_box_ids(box_ids) if box_ids else pki.boxes(expiring_within_days=expiring_within)
            issued = pki.rotate_boxes(ids, progress=_progress(len(ids), "renewing box certificates"))
            _report_issued(issued, lambda r: str(pki.layout.bundle(r.name)))
            typer.echo("install the new bundles, then `docbox provision revoke --superseded`")

    @rotate.command("signing-key")
    def rotate_signing_key(
        directory: DirOption = Path("pki"),
        activate: Annotated[
            bool, typer.Option("--activate", help="Step 2: the cloud signs with the new key")
        ] = False,
        retire: Annotated[bool, typer.Option("--retire", help="Step 3: bundles drop the old key")] = False,
    ) -> None:
        """Rotate the command-signing key in three steps: stage, --activate, --retire."""
        if activate and retire:
            raise typer.BadParameter("--activate and --retire are separate steps")
        with _errors(), _opened(directory) as pki:
            if activate:
                kid = pki.activate_signing_key()
                typer.echo(f"cloud folders now hold signing key {kid}; restart the cloud replicas")
                typer.echo("then, once old commands have expired: `rotate signing-key --retire`")
            elif retire:
                total = len(pki.boxes())
                retired = pki.retire_signing_keys(progress=_progress(total, "rewriting bundles"))
                typer.echo(f"retired key(s) {', '.join(retired)}; {total} bundle(s) rewritten")
                typer.echo("install the new bundles on the boxes")
            else:
                total = len(pki.boxes())
                kid = pki.stage_signing_key(progress=_progress(total, "rewriting bundles"))
                typer.echo(f"new signing key {kid} staged; {total} bundle(s) now trust both keys")
                typer.echo("install the new bundles on every box, then `rotate signing-key --activate`")

    root.add_typer(group, name="provision")


# ---------------------------------------------------------------------- helpers


@contextmanager
def _errors() -> Iterator[None]:
    """Turn a provisioning error into its message on stderr and exit code 1."""
    from docbox_provisioning.errors import ProvisioningError

    try:
        yield
    except ProvisioningError as exc:
        typer.echo(f"docbox provision: {exc}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def _opened(directory: Path) -> Iterator[Authority]:
    from docbox_provisioning.authority import Authority

    with Authority.open(directory) as pki:
        yield pki


def _progress(total: int, label: str) -> Progress:
    from docbox_provisioning.progress import Progress

    return Progress(total, label, lambda line: typer.echo(line, err=True))


def _read_config(path: Path) -> bytes:
    from docbox_provisioning.errors import ProvisioningError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProvisioningError(f"cannot read box configuration {path}: {exc.strerror}") from exc


def _report_issued(records: list[CertRecord], where: Callable[[CertRecord], str]) -> None:
    # Up to 20 lines, then a count: a batch of 500 should not flood the terminal.
    for record in records[:20]:
        typer.echo(
            f"issued {record.kind.value} {record.name}: serial {record.serial}, "
            f"valid until {record.not_after:%Y-%m-%d} -> {where(record)}"
        )
    if len(records) > 20:
        typer.echo(f"... and {len(records) - 20} more")
    if len(records) > 1:
        typer.echo(f"{len(records)} certificates issued")
