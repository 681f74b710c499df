"""``docbox demo``: the whole system in one process on embedded defaults.

An amqtt broker, the cloud on SQLite, one simulated box (the real gpiozero driver on mock pins
with simulated doors) and simulated people. The same cloud and edge code runs against
Mosquitto and PostgreSQL when they are configured.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr

from docbox_cloud.notify.console import ConsoleNotifier
from docbox_demo.people import pickups, vandal
from docbox_demo.stack import Stack, StackOptions, running_stack

log = logging.getLogger("docbox.demo")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``docbox demo`` can be told."""

    host: str = "127.0.0.1"
    http_port: int = 8000
    mqtt_port: int = 1883
    box_id: str = "demo-box"
    compartments: int = 500
    data_dir: Path | None = None
    applicant_interval_s: float = 6.0
    walk_max_s: float = 15.0
    vandal_interval_s: float = 90.0
    seed: int | None = None
    kiosk_port: int = 8470


async def run_demo(options: DemoOptions, on_ready: Callable[[Stack, Path], None]) -> None:
    """Run the demo until SIGINT/SIGTERM; call ``on_ready`` once everything is up."""
    # Ctrl-C and SIGTERM (a service manager, `kill`) both stop the demo cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="docbox-demo-"))
    rng = random.Random(options.seed)
    stack_options = StackOptions(
        data_dir=data_dir,
        host=options.host,
        http_port=options.http_port,
        mqtt_port=options.mqtt_port,
        box_id=options.box_id,
        compartments=options.compartments,
        telemetry_interval_s=10.0,
        cloud_client_id="docbox-cloud-demo",
        kiosk_port=options.kiosk_port,
        # Personal data (contact, date of birth) is encrypted at rest; the demo makes a key per run.
        cloud_overrides={"pickup_data_key": SecretStr(Fernet.generate_key().decode())},
    )
    try:
        async with running_stack(stack_options) as stack:
            stack.box.auto_person(open_after_s=0.8, shut_after_s=4.0)
            # The applicants' phones: SMS texts are kept in memory (and logged masked, no text).
            phone = ConsoleNotifier(keep=500)
            stack.app.state.pickup.notifier = phone
            numbers = [c.number for c in stack.config.compartments]
            people = [
                asyncio.create_task(
                    pickups(stack, phone, options.applicant_interval_s, options.walk_max_s, rng),
                    name="demo-pickups",
                ),
                asyncio.create_task(
                    vandal(stack.box, numbers, options.vandal_interval_s, rng), name="demo-vandal"
                ),
            ]
            on_ready(stack, data_dir)
            stopper = asyncio.create_task(stop.wait(), name="demo-stop")
            done, _ = await asyncio.wait([*people, stopper], return_when=asyncio.FIRST_COMPLETED)
            log.info("stopping")
            for task in [*people, stopper]:
                task.cancel()
            await asyncio.gather(*people, stopper, return_exceptions=True)
            for task in done:
                if task is not stopper and not task.cancelled() and task.exception() is not None:
                    raise RuntimeError(f"{task.get_name()} failed") from task.exception()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
