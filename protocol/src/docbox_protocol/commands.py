"""``docbox protocol …`` commands."""

from __future__ import annotations

from typing import Annotated

import typer


def register(root: typer.Typer) -> None:
    """Add the ``protocol`` command group to the docbox CLI."""
    group = typer.Typer(help="Inspect the MQTT protocol; regenerate AsyncAPI and JSON Schemas.")

    @group.command("schemas")
    def schemas(
        write: Annotated[bool, typer.Option("--write", help="Rewrite the checked-in files")] = False,
    ) -> None:
        """Check (or with --write regenerate) protocol/asyncapi.yaml and protocol/schemas/."""
        from docbox_protocol import schemagen

        if write:
            for path in schemagen.write():
                typer.echo(f"wrote {path}")
            return
        stale = schemagen.stale()
        if stale:
            typer.echo("stale: " + ", ".join(stale) + " (run: docbox protocol schemas --write)")
            raise typer.Exit(1)
        typer.echo("generated protocol files are up to date")

    @group.command("topics")
    def topics() -> None:
        """List every topic with its QoS, retained flag and message model."""
        from docbox_protocol.topics import ROOT, TOPIC_SPECS

        for channel, spec in TOPIC_SPECS.items():
            typer.echo(
                f"{ROOT}/{{box}}/{channel.value:<10} qos={spec.qos} retained={str(spec.retained).lower():<5}"
                f" from={spec.sender:<5} {spec.model.__name__}"
            )

    root.add_typer(group, name="protocol")
