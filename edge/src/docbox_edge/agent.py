"""The edge agent: settings, and the composition of hardware, store, state machine and link."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Sequence
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from docbox_edge.boxconfig import BoxConfig, load_box_config
from docbox_edge.compartments import Compartments
from docbox_edge.errors import SettingsError
from docbox_edge.executor import Executor
from docbox_edge.hardware.box import BoxHardware
from docbox_edge.hardware.errors import ConfigError
from docbox_edge.ledger import Ledger
from docbox_edge.link import Link, LinkSettings
from docbox_edge.outbox import Outbox
from docbox_edge.store import open_store
from docbox_protocol.errors import SignatureError
from docbox_protocol.messages import CommandReply, Telemetry, utcnow
from docbox_protocol.signing import CommandVerifier, load_public_key

log = logging.getLogger(__name__)

_CPU_TEMP = Path("/sys/class/thermal/thermal_zone0/temp")
_LEDGER_PRUNE_INTERVAL_S = 3600.0


def parse_broker_url(url: str) -> tuple[str, int]:
    """Split ``mqtt://host:port`` (port 1883 if omitted) into host and port.

    Raises:
        SettingsError: for another scheme, a missing host or a bad port.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp"):
        raise SettingsError(f"broker URL must be mqtt://host[:port], not {url!r}")
    try:
        port = parts.port or 1883
    except ValueError as exc:
        raise SettingsError(f"bad port in broker URL {url!r}") from exc
    if not parts.hostname:
        raise SettingsError(f"broker URL {url!r} has no host")
    return parts.hostname, port


class EdgeSettings(BaseModel):
    """Everything the agent needs besides its hardware.

    Attributes:
        box: The box configuration (id, compartments, pulse lengths).
        broker_host: MQTT broker host.
        broker_port: MQTT broker port.
        data_dir: Folder of the agent's SQLite store (outbox and command ledger).
        public_keys: PEM texts of the trusted command-signing keys (several during a rotation).
        unlock_confirm_s: How long the door sensor has to show an unlocked door open, from
            the start of the pulse; then the pulse is repeated once, then ``jammed``.
        left_open_s: How long a door may stand open before ``left_open`` is raised.
        flapping_clear_s: Quiet time that clears a ``flapping`` alarm.
        clock_skew_s: Tolerated difference between box and cloud clocks.
        telemetry_interval_s: Period of telemetry messages; 0 disables them.
        keepalive_s: MQTT keepalive.
        publish_window: Event publishes awaiting PUBACK at once.
        publish_timeout_s: A PUBACK later than this drops the connection.
        reconnect_min_s: First reconnect delay.
        reconnect_max_s: Cap of the reconnect backoff.
        ledger_retention_s: How long past expiry an executed command id is remembered.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    box: BoxConfig
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(1883, ge=1, le=65535)
    data_dir: Path
    public_keys: tuple[str, ...] = Field(min_length=1)
    unlock_confirm_s: float = Field(8.0, gt=0)
    left_open_s: float = Field(120.0, gt=0)
    flapping_clear_s: float = Field(60.0, gt=0)
    clock_skew_s: float = Field(5.0, ge=0)
    telemetry_interval_s: float = Field(30.0, ge=0)
    keepalive_s: int = Field(15, ge=5, le=600)
    publish_window: int = Field(128, ge=1, le=4096)
    publish_timeout_s: float = Field(10.0, gt=0)
    reconnect_min_s: float = Field(0.2, gt=0)
    reconnect_max_s: float = Field(10.0, gt=0)
    ledger_retention_s: float = Field(86400.0, gt=60)

    @field_validator("public_keys")
    @classmethod
    def _keys_load(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pem in value:
            try:
                load_public_key(pem.encode())
            except SignatureError as exc:
                # pydantic reports ValueErrors as validation errors, other exceptions escape.
                raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> Self:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be below reconnect_min_s")
        return self

    @property
    def box_id(self) -> str:
        """The box's id (from its configuration)."""
        return self.box.box_id

    @classmethod
    def from_files(
        cls,
        *,
        config: Path | BoxConfig,
        broker: str,
        data_dir: Path,
        public_keys: Sequence[Path],
        **overrides: object,
    ) -> Self:
        """Build settings from the command line's files and URL.

        Args:
            config: Box configuration file, or an already loaded configuration.
            broker: ``mqtt://host[:port]``.
            data_dir: Folder of the agent's store.
            public_keys: PEM files of the trusted command-signing keys.
            **overrides: Further :class:`EdgeSettings` fields (timeouts).

        Raises:
            SettingsError: a file cannot be read or is invalid, or the URL is bad.
        """
        host, port = parse_broker_url(broker)
        try:
            box = config if isinstance(config, BoxConfig) else load_box_config(config)
            pems = tuple(Path(p).read_text(encoding="ascii") for p in public_keys)
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"cannot read settings file: {exc}") from exc
        except ConfigError as exc:
            raise SettingsError(str(exc)) from exc
        try:
            return cls.model_validate(
                {
                    "box": box,
                    "broker_host": host,
                    "broker_port": port,
                    "data_dir": data_dir,
                    "public_keys": pems,
                    **overrides,
                }
            )
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc


class EdgeAgent:
    """The agent of one box: runs until cancelled.

    Attributes:
        outbox: The durable event queue (tests read its depth).
        compartments: The door/lock state machine.
        executor: Verifies and executes commands.
        link: The MQTT connection loop.
    """

    def __init__(self, settings: EdgeSettings, hardware: BoxHardware) -> None:
        """Open the store in ``settings.data_dir`` and wire the parts; nothing runs yet.

        Raises:
            StoreError: the store cannot be opened.
        """
        self.settings = settings
        self.hardware = hardware
        self._started = time.monotonic()
        self._conn = open_store(settings.data_dir)
        box = settings.box
        self.outbox = Outbox(self._conn, box.box_id)
        self.ledger = Ledger(self._conn, retention=timedelta(seconds=settings.ledger_retention_s))
        self.compartments = Compartments(
            box.compartments,
            self.outbox.append,
            left_open_s=settings.left_open_s,
            flapping_clear_s=settings.flapping_clear_s,
        )
        self.link = Link(
            LinkSettings(
                host=settings.broker_host,
                port=settings.broker_port,
                keepalive_s=settings.keepalive_s,
                publish_window=settings.publish_window,
                publish_timeout_s=settings.publish_timeout_s,
                reconnect_min_s=settings.reconnect_min_s,
                reconnect_max_s=settings.reconnect_max_s,
                telemetry_interval_s=settings.telemetry_interval_s,
                agent_version=_agent_version(),
            ),
            outbox=self.outbox,
            compartments=self.compartments,
            on_command=self._on_command,
            telemetry=self.telemetry,
        )
        self.executor = Executor(
            box_id=box.box_id,
            hardware=hardware,
            verifier=CommandVerifier(load_public_key(pem.encode()) for pem in settings.public_keys),
            ledger=self.ledger,
            outbox=self.outbox,
            compartments=self.compartments,
            pulse_ms={c.number: box.pulse_ms(c.number) for c in box.compartments},
            on_snapshot=self.link.answer_snapshot_request,
            unlock_confirm_s=settings.unlock_confirm_s,
            clock_skew_s=settings.clock_skew_s,
        )
        self._closed = False
        #: Set once the outputs are off and the doors are watched (before connecting).
        self.started = asyncio.Event()

    @property
    def connected(self) -> asyncio.Event:
        """Set while connected to the broker and subscribed to the command topic."""
        return self.link.connected

    async def run(self) -> None:
        """Run until cancelled.

        Switches all outputs off and starts watching the doors, then keeps the broker link
        up. On exit (cancellation or a failure) the outputs are switched off again and, if
        connected, ``offline`` is published.
        """
        if self._closed:
            raise SettingsError("the agent was closed")
        try:
            # Outputs off before anything else can happen (principle 6).
            await self.hardware.start()
            self.compartments.load(self.hardware.door_is_open)
            self.started.set()
            async with asyncio.TaskGroup() as group:
                group.create_task(self.compartments.run(self.hardware.signals()), name="docbox-doors")
                group.create_task(self.link.run(), name="docbox-link")
                group.create_task(self._housekeeping(), name="docbox-housekeeping")
        finally:
            self.started.clear()
            self.compartments.close()
            await self.hardware.close()

    def close(self) -> None:
        """Close the store (after :meth:`run` ended)."""
        if not self._closed:
            self._closed = True
            self._conn.close()

    def telemetry(self) -> Telemetry:
        """The current health figures."""
        return Telemetry(
            box_id=self.settings.box_id,
            at=utcnow(),
            uptime_s=time.monotonic() - self._started,
            outbox_depth=self.outbox.depth(),
            cpu_temp_c=_cpu_temp(),
            disk_free_bytes=_disk_free(self.settings.data_dir),
            doors_open=self.compartments.doors_open(),
        )

    async def _on_command(self, payload: bytes) -> CommandReply:
        # Indirection: the link is built before the executor (which needs the link's
        # snapshot publisher).
        return await self.executor.handle(payload)

    async def _housekeeping(self) -> None:
        while True:
            try:
                pruned = self.ledger.prune(utcnow())
            except Exception:
                log.exception("cannot prune the command ledger")
            else:
                if pruned:
                    log.info("pruned %d long-expired command ids", pruned)
            await asyncio.sleep(_LEDGER_PRUNE_INTERVAL_S)


def _agent_version() -> str | None:
    try:
        return version("docbox-edge")
    except PackageNotFoundError:
        return None


def _cpu_temp() -> float | None:
    """SoC temperature of a Raspberry Pi (millidegrees in sysfs), None elsewhere."""
    with contextlib.suppress(OSError, ValueError):
        return int(_CPU_TEMP.read_text().strip()) / 1000.0
    return None


def _disk_free(path: Path) -> int | None:
    with contextlib.suppress(OSError):
        return shutil.disk_usage(path).free
    return None
