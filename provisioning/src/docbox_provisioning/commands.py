"""``docbox provision …`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(root: typer.Typer) -> None:
    """Add the ``provision`` command group to the docbox CLI."""
    group = typer.Typer(help="Create keys, certificates and device bundles.")

    @group.command("signing-key")
    def signing_key(
        out: Annotated[Path, typer.Option("--out", help="Folder for the key files")] = Path("secrets"),
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing key")] = False,
    ) -> None:
        """Create the cloud's Ed25519 command-signing key pair (private key mode 0600)."""
        from docbox_provisioning.signing_keys import create_signing_key

        try:
            files = create_signing_key(out, overwrite=overwrite)
        except FileExistsError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        # The private key is never printed: only where it is and the public key's id.
        typer.echo(f"private key: {files.private} (mode 0600; give it to the cloud only)")
        typer.echo(f"public key:  {files.public} (key id {files.key_id}; goes into every edge bundle)")

    root.add_typer(group, name="provision")
