"""``docbox demo``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer


def register(root: typer.Typer) -> None:
    """Add the ``demo`` command to the docbox CLI."""

    @root.command("demo")
    def demo(
        port: Annotated[int, typer.Option("--port", help="HTTP port of the cloud (0: any free)")] = 8000,
        mqtt_port: Annotated[int, typer.Option("--mqtt-port", help="MQTT port (0: any free)")] = 1883,
        compartments: Annotated[int, typer.Option("--compartments", min=1, max=2000)] = 500,
        data_dir: Annotated[
            Path | None,
            typer.Option("--data-dir", help="Keep the demo's databases here (default: a temp folder)"),
        ] = None,
        applicant_interval: Annotated[
            float,
            typer.Option("--applicant-interval", min=0.05, help="Mean seconds between simulated pickups"),
        ] = 6.0,
        seed: Annotated[int | None, typer.Option("--seed", help="Seed for the simulated people")] = None,
    ) -> None:
        """Run the whole system on this machine, on embedded defaults.

        An in-process MQTT broker, the cloud on SQLite, a simulated box and simulated people.
        Prints its URLs and keeps running; Ctrl-C stops it cleanly.
        """
        import asyncio

        from docbox_demo.demo import DemoOptions, run_demo
        from docbox_demo.stack import Stack

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")

        def ready(stack: Stack, data_dir: Path) -> None:
            host, mqtt = stack.broker_url.removeprefix("mqtt://").rsplit(":", 1)
            box = stack.config.box_id
            typer.echo(
                "\n"
                f"docbox demo is running (data in {data_dir})\n"
                f"  cloud API    {stack.api_url}   (OpenAPI: {stack.api_url}/docs)\n"
                f"  MQTT broker  {stack.broker_url}\n"
                f"  API token    {stack.api_token}\n"
                f"  box          {box} ({len(stack.config.compartments)} compartments)\n"
                f"  watch it:    mosquitto_sub -h {host} -p {mqtt} -t 'docbox/#' -v\n"
                f"  open one:    curl -X POST -H 'Authorization: Bearer {stack.api_token}' "
                f"{stack.api_url}/api/v1/boxes/{box}/compartments/7/open\n"
                "Ctrl-C stops it.\n",
            )

        options = DemoOptions(
            http_port=port,
            mqtt_port=mqtt_port,
            compartments=compartments,
            data_dir=data_dir,
            applicant_interval_s=applicant_interval,
            seed=seed,
        )
        try:
            asyncio.run(run_demo(options, ready))
        except (KeyboardInterrupt, asyncio.CancelledError):
            typer.echo("docbox demo stopped")
