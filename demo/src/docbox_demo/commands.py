"""``docbox demo``."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, Protocol

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
        walk_time: Annotated[
            float,
            typer.Option("--walk-time", min=0, help="Longest time from SMS to the applicant at the box (s)"),
        ] = 15.0,
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
                f"  kiosk        {stack.agent.kiosk.url if stack.agent.kiosk else '(disabled)'}\n"
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
            walk_max_s=walk_time,
            seed=seed,
        )
        try:
            asyncio.run(run_demo(options, ready))
        except (KeyboardInterrupt, asyncio.CancelledError):
            typer.echo("docbox demo stopped")


MqttUrlOption = Annotated[str | None, typer.Option("--mqtt-url", help="Broker (default: embedded amqtt)")]
DatabaseUrlOption = Annotated[
    str | None, typer.Option("--database-url", help="Async SQLAlchemy URL (default: SQLite)")
]


class _Bench(Protocol):
    def __call__(
        self, *, count: int, data_dir: Path, mqtt_url: str | None, database_url: str | None
    ) -> Coroutine[Any, Any, list[str]]: ...


def _run_bench(bench: _Bench, count: int, mqtt_url: str | None, database_url: str | None) -> None:
    """Run one benchmark in a throwaway data folder and print its report."""
    import asyncio
    import tempfile

    with tempfile.TemporaryDirectory(prefix="docbox-bench-") as tmp:
        lines = asyncio.run(
            bench(count=count, data_dir=Path(tmp), mqtt_url=mqtt_url, database_url=database_url)
        )
    for line in lines:
        typer.echo(line)


def register_bench(root: typer.Typer) -> None:
    """Add the ``bench`` command group to the docbox CLI."""
    group = typer.Typer(help="Benchmarks: each prints its figures and a ratio to a same-run baseline.")

    @group.command("unlock")
    def unlock(
        count: Annotated[int, typer.Option("--count", min=10)] = 1000,
        mqtt_url: MqttUrlOption = None,
        database_url: DatabaseUrlOption = None,
    ) -> None:
        """REST open → edge coil on, p50/p99, vs a bare MQTT request→reply round trip."""
        from docbox_demo.bench.unlock import bench_unlock

        _run_bench(bench_unlock, count, mqtt_url, database_url)

    @group.command("ingest")
    def ingest(
        count: Annotated[int, typer.Option("--count", min=10)] = 5000,
        mqtt_url: MqttUrlOption = None,
        database_url: DatabaseUrlOption = None,
    ) -> None:
        """Events/s stored by one cloud bridge vs a bare paho subscriber that only counts."""
        from docbox_demo.bench.ingest import bench_ingest

        _run_bench(bench_ingest, count, mqtt_url, database_url)

    root.add_typer(group, name="bench")
