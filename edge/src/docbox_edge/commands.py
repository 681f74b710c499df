"""``docbox edge …`` commands. Heavy imports happen inside the commands, so ``docbox --help``
stays fast on a Raspberry Pi."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from docbox_edge.agent import EdgeSettings
    from docbox_edge.hardware.box import BoxHardware
    from docbox_protocol.tls import TlsFiles


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
        # str, not Path: typer splits a list of paths from the environment at ":", but the
        # provisioning bundle's edge.env separates the key files with spaces.
        public_key: Annotated[
            list[str],
            typer.Option(
                "--public-key",
                envvar="DOCBOX_COMMAND_KEYS",
                help="Trusted command-signing key (PEM); repeatable; space-separated in the variable",
            ),
        ],
        config: Annotated[
            Path | None,
            typer.Option(
                "--config", envvar="DOCBOX_BOX_CONFIG", help="Box configuration (TOML)", dir_okay=False
            ),
        ] = None,
        broker: Annotated[
            str,
            typer.Option(
                "--broker",
                envvar="DOCBOX_BROKER",
                help="mqtt://host[:port] or, with the TLS files, mqtts://host[:port]",
            ),
        ] = "mqtt://127.0.0.1:1883",
        mqtt_ca_file: Annotated[
            Path | None,
            typer.Option(
                "--mqtt-ca-file",
                envvar="DOCBOX_MQTT_CA_FILE",
                dir_okay=False,
                help="mqtts://: the CA certificate that signed the broker's certificate (PEM)",
            ),
        ] = None,
        mqtt_cert_file: Annotated[
            Path | None,
            typer.Option(
                "--mqtt-cert-file",
                envvar="DOCBOX_MQTT_CERT_FILE",
                dir_okay=False,
                help="mqtts://: the box's client certificate (PEM)",
            ),
        ] = None,
        mqtt_key_file: Annotated[
            Path | None,
            typer.Option(
                "--mqtt-key-file",
                envvar="DOCBOX_MQTT_KEY_FILE",
                dir_okay=False,
                help="mqtts://: the client certificate's private key (PEM)",
            ),
        ] = None,
        bundle: Annotated[
            Path | None,
            typer.Option(
                "--bundle",
                file_okay=False,
                help="mqtts://: take the TLS files from this edge bundle (docbox provision box)",
            ),
        ] = None,
        simulate: Annotated[
            bool,
            typer.Option(
                "--simulate", help="Simulators for every lock board of the box, with simulated people"
            ),
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
        kiosk_host: Annotated[
            str,
            typer.Option("--kiosk-host", envvar="DOCBOX_KIOSK_HOST", help="Interface of the touchscreen UI"),
        ] = "127.0.0.1",
        kiosk_port: Annotated[
            int,
            typer.Option(
                "--kiosk-port", envvar="DOCBOX_KIOSK_PORT", min=0, max=65535, help="Touchscreen UI port"
            ),
        ] = 8470,
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
            tls_files = _tls_files(mqtt_ca_file, mqtt_cert_file, mqtt_key_file)
            settings = EdgeSettings.from_files(
                config=box_config,
                broker=broker,
                data_dir=data_dir,
                public_keys=[Path(key) for key in public_key],
                tls_files=tls_files,
                bundle=bundle,
                telemetry_interval_s=telemetry_interval,
                kiosk_host=kiosk_host,
                kiosk_port=kiosk_port,
            )
            asyncio.run(_run(settings, simulate, person_open_after, person_shut_after))
        except (EdgeError, HardwareError) as exc:
            typer.echo(f"docbox edge: {exc}", err=True)
            raise typer.Exit(2) from exc

    root.add_typer(group, name="edge")


def _tls_files(ca_file: Path | None, cert_file: Path | None, key_file: Path | None) -> TlsFiles | None:
    """The three TLS files, None if none is given.

    Raises:
        SettingsError: only some of them are given.
    """
    from docbox_edge.errors import SettingsError
    from docbox_protocol.tls import TlsFiles

    given = {"--mqtt-ca-file": ca_file, "--mqtt-cert-file": cert_file, "--mqtt-key-file": key_file}
    if all(path is None for path in given.values()):
        return None
    if ca_file is None or cert_file is None or key_file is None:
        missing = ", ".join(name for name, path in given.items() if path is None)
        raise SettingsError(f"TLS needs all three files; missing {missing}")
    return TlsFiles(ca_file, cert_file, key_file)


async def _run(settings: EdgeSettings, simulate: bool, open_after_s: float, shut_after_s: float) -> None:
    """Build the hardware, run the agent until a termination signal, then clean up."""
    import asyncio
    import signal

    from docbox_edge.hardware.box import build_hardware

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Cancellation is the clean shutdown path: offline status, outputs off.
        loop.add_signal_handler(sig, main.cancel)

    if simulate:
        from docbox_edge.hardware.simulation import SimulatedHardware

        # Simulators for whatever boards the configuration names (GPIO, MCP23017, Kerong),
        # with the real drivers on them: nothing opens a real bus.
        sim = SimulatedHardware(settings.box)
        try:
            sim.box.auto_person(open_after_s=open_after_s, shut_after_s=shut_after_s)
            await _run_agent(settings, sim.hardware)
        finally:
            await sim.close()
    else:
        await _run_agent(settings, build_hardware(settings.box))


async def _run_agent(settings: EdgeSettings, hardware: BoxHardware) -> None:
    """Run the agent on ``hardware`` until cancelled, then close its store."""
    import asyncio
    import contextlib

    from docbox_edge.agent import EdgeAgent

    try:
        agent = EdgeAgent(settings, hardware)
    except BaseException:
        await hardware.close()  # built, maybe holding a bus: release it
        raise
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await agent.run()
    finally:
        agent.close()
