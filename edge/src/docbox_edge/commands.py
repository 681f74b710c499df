"""``docbox edge …`` commands. Heavy imports happen inside the commands, so ``docbox --help``
stays fast on a Raspberry Pi."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from docbox_edge.agent import EdgeSettings


def register(root: typer.Typer) -> None:
    """Add the ``edge`` command group to the docbox CLI."""
    group = typer.Typer(help="The edge agent of a pickup box: lock boards, doors, outbox, MQTT.")

    @group.command("run")
    def run(
        data_dir: Annotated[
            Path,
            typer.Option(
                "--data-dir", envvar="DOCBOX_EDGE_DATA", help="Folder for the outbox and command ledger"
            ),
        ],
        public_key: Annotated[
            list[Path],
            typer.Option(
                "--public-key",
                envvar="DOCBOX_COMMAND_KEYS",
                help="Trusted command-signing key (PEM); repeatable",
            ),
        ],
        config: Annotated[
            Path | None,
            typer.Option(
                "--config", envvar="DOCBOX_BOX_CONFIG", help="Box configuration (TOML)", dir_okay=False
            ),
        ] = None,
        broker: Annotated[
            str, typer.Option("--broker", envvar="DOCBOX_BROKER", help="mqtt://host[:port]")
        ] = "mqtt://127.0.0.1:1883",
        simulate: Annotated[
            bool, typer.Option("--simulate", help="Simulated lock boards on mock pins, with simulated people")
        ] = False,
        box_id: Annotated[
            str | None,
            typer.Option("--box-id", help="With --simulate and no --config: id of a generated box"),
        ] = None,
        compartments: Annotated[
            int,
            typer.Option("--compartments", min=1, max=1000, help="With --simulate and no --config: how many"),
        ] = 500,
        person_open_after: Annotated[
            float,
            typer.Option(
                "--person-open-after", help="Simulated person: seconds from unlock to pulling the door"
            ),
        ] = 1.5,
        person_shut_after: Annotated[
            float,
            typer.Option("--person-shut-after", help="Simulated person: seconds from opening to shutting"),
        ] = 4.0,
        telemetry_interval: Annotated[
            float, typer.Option("--telemetry-interval", help="Telemetry period in seconds; 0 disables it")
        ] = 30.0,
        log_level: Annotated[str, typer.Option("--log-level", envvar="DOCBOX_LOG_LEVEL")] = "INFO",
    ) -> None:
        """Run the agent until SIGTERM/SIGINT (which publish ``offline`` and switch outputs off)."""
        import asyncio
        import logging

        from docbox_edge.agent import EdgeSettings
        from docbox_edge.boxconfig import BoxConfig, generate_simulated_config
        from docbox_edge.errors import EdgeError
        from docbox_edge.hardware.errors import HardwareError

        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
        )
        try:
            box_config: Path | BoxConfig
            if config is not None:
                box_config = config
            elif simulate and box_id:
                box_config = generate_simulated_config(box_id, compartments)
            else:
                raise typer.BadParameter("--config is required (or --simulate with --box-id)")
            settings = EdgeSettings.from_files(
                config=box_config,
                broker=broker,
                data_dir=data_dir,
                public_keys=public_key,
                telemetry_interval_s=telemetry_interval,
            )
            asyncio.run(_run(settings, simulate, person_open_after, person_shut_after))
        except (EdgeError, HardwareError) as exc:
            typer.echo(f"docbox edge: {exc}", err=True)
            raise typer.Exit(2) from exc

    root.add_typer(group, name="edge")


async def _run(settings: EdgeSettings, simulate: bool, open_after_s: float, shut_after_s: float) -> None:
    """Build the hardware, run the agent until a termination signal, then clean up."""
    import asyncio
    import contextlib
    import signal

    from docbox_edge.agent import EdgeAgent
    from docbox_edge.hardware.box import build_hardware

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Cancellation is the clean shutdown path: offline status, outputs off.
        loop.add_signal_handler(sig, main.cancel)

    factory = None
    sim = None
    if simulate:
        from docbox_edge.hardware.mockpins import ExtendedMockFactory
        from docbox_edge.hardware.simulated import SimulatedBox

        factory = ExtendedMockFactory()
        hardware = build_hardware(settings.box, factory)
        sim = SimulatedBox(settings.box, factory)
        sim.auto_person(open_after_s=open_after_s, shut_after_s=shut_after_s)
    else:
        hardware = build_hardware(settings.box)
    agent = EdgeAgent(settings, hardware)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await agent.run()
    finally:
        agent.close()
        if sim is not None:
            sim.close()
        if factory is not None:
            factory.close()
