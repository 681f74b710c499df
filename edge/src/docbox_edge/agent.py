"""The edge agent: settings, and the composition of hardware, store, state machine and link."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
from docbox_edge.grants import GrantStore
from docbox_edge.hardware.box import BoxHardware
from docbox_edge.hardware.errors import ConfigError
from docbox_edge.kiosk.server import KioskOptions, KioskServer
from docbox_edge.ledger import Ledger
from docbox_edge.link import Link, LinkSettings
from docbox_edge.lockout import LockoutLimits, Lockouts
from docbox_edge.outbox import Outbox
from docbox_edge.pickup import PickupDesk
from docbox_edge.staff import StaffLoading
from docbox_edge.store import open_store
from docbox_protocol.errors import SignatureError, TlsError
from docbox_protocol.messages import CommandReply, Telemetry, utcnow
from docbox_protocol.signing import CommandVerifier, load_public_key
from docbox_protocol.tls import TlsFiles, client_context

log = logging.getLogger(__name__)

_CPU_TEMP = Path("/sys/class/thermal/thermal_zone0/temp")
_LEDGER_PRUNE_INTERVAL_S = 3600.0
_DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883}
_BUNDLE_MANIFEST = "bundle.json"


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """A parsed broker URL.

    Attributes:
        host: Host name or address (with TLS it must be a name in the broker's certificate).
        port: TCP port.
        tls: Whether the connection uses TLS (``mqtts://``).
    """

    host: str
    port: int
    tls: bool


def parse_broker(url: str) -> BrokerUrl:
    """Parse ``mqtt://host[:port]`` (port 1883) or ``mqtts://host[:port]`` (TLS, port 8883).

    Raises:
        SettingsError: for another scheme, a missing host or a bad port.
    """
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise SettingsError(f"broker URL must be mqtt://host[:port] or mqtts://host[:port], not {url!r}")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise SettingsError(f"bad port in broker URL {url!r}") from exc
    if not parts.hostname:
        raise SettingsError(f"broker URL {url!r} has no host")
    return BrokerUrl(parts.hostname, port, tls=parts.scheme == "mqtts")


def parse_broker_url(url: str) -> tuple[str, int]:
    """Host and port of a broker URL (see :func:`parse_broker`, which also tells TLS apart).

    Raises:
        SettingsError: for another scheme, a missing host or a bad port.
    """
    broker = parse_broker(url)
    return broker.host, broker.port


class EdgeSettings(BaseModel):
    """Everything the agent needs besides its hardware.

    Attributes:
        box: The box configuration (id, compartments, pulse lengths).
        broker_host: MQTT broker host.
        broker_port: MQTT broker port.
        broker_tls: Connect with TLS (``mqtts://``); then the three ``mqtt_*_file`` are required.
        mqtt_ca_file: PEM file of the CA that signed the broker's certificate (the only one trusted).
        mqtt_cert_file: The box's PEM client certificate.
        mqtt_key_file: Its PEM private key.
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
        kiosk_enabled: Serve the kiosk UI of the touchscreen.
        kiosk_host: Interface of the kiosk server (loopback: the screen's browser is local).
        kiosk_port: Port of the kiosk server; 0 picks a free one.
        kiosk_idle_s: Inactivity after which the kiosk returns to its start screen.
        kiosk_request_timeout_s: How long staff loading waits for the cloud's unlock or answer.
        signin_login_max_failures: Wrong secrets for one login that lock it.
        signin_login_window_s: Period in which those failures are counted.
        signin_login_lockout_s: How long a login stays locked.
        signin_box_max_failures: Failed sign-ins of any kind that pause the kiosk's sign-in.
        signin_box_window_s: Period in which those failures are counted.
        signin_box_pause_s: How long sign-in stays paused.
        grant_retention_s: How long expired grants and finished pickups are kept locally.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    box: BoxConfig
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(1883, ge=1, le=65535)
    broker_tls: bool = False
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
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
    kiosk_enabled: bool = True
    kiosk_host: str = "127.0.0.1"
    kiosk_port: int = Field(8470, ge=0, le=65535)
    kiosk_idle_s: float = Field(90.0, ge=30)
    kiosk_request_timeout_s: float = Field(30.0, gt=0)
    signin_login_max_failures: int = Field(5, ge=1)
    signin_login_window_s: float = Field(900.0, gt=0)
    signin_login_lockout_s: float = Field(900.0, gt=0)
    signin_box_max_failures: int = Field(20, ge=1)
    signin_box_window_s: float = Field(600.0, gt=0)
    signin_box_pause_s: float = Field(300.0, gt=0)
    grant_retention_s: float = Field(7 * 86400.0, gt=60)

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

    @model_validator(mode="after")
    def _tls_files_match_scheme(self) -> Self:
        files = {
            "--mqtt-ca-file": self.mqtt_ca_file,
            "--mqtt-cert-file": self.mqtt_cert_file,
            "--mqtt-key-file": self.mqtt_key_file,
        }
        if self.broker_tls:
            missing = [name for name, path in files.items() if path is None]
            if missing:
                raise ValueError(f"an mqtts:// broker needs {', '.join(missing)}")
        elif any(path is not None for path in files.values()):
            # Files given for a plain connection: almost certainly a mistyped URL, and
            # silently connecting without TLS would send everything in the clear.
            raise ValueError("TLS files are given but the broker URL is mqtt://; use mqtts://")
        return self

    def tls_context(self) -> ssl.SSLContext | None:
        """Build the TLS context of the broker connection (None without TLS).

        Raises:
            SettingsError: a TLS file is missing or is not a valid certificate or key.
        """
        if not self.broker_tls:
            return None
        ca, cert, key = self.mqtt_ca_file, self.mqtt_cert_file, self.mqtt_key_file
        if ca is None or cert is None or key is None:  # the validator refuses this already
            raise SettingsError("an mqtts:// broker needs the CA, certificate and key files")
        try:
            return client_context(TlsFiles(ca, cert, key))
        except TlsError as exc:
            raise SettingsError(str(exc)) from exc

    @property
    def box_id(self) -> str:
        """The box's id (from its configuration)."""
        return self.box.box_id

    @property
    def lockout_limits(self) -> LockoutLimits:
        """The kiosk's sign-in limits."""
        return LockoutLimits(
            login_max_failures=self.signin_login_max_failures,
            login_window_s=self.signin_login_window_s,
            login_lockout_s=self.signin_login_lockout_s,
            box_max_failures=self.signin_box_max_failures,
            box_window_s=self.signin_box_window_s,
            box_pause_s=self.signin_box_pause_s,
        )

    @classmethod
    def from_files(
        cls,
        *,
        config: Path | BoxConfig,
        broker: str,
        data_dir: Path,
        public_keys: Sequence[Path],
        tls_files: TlsFiles | None = None,
        bundle: Path | None = None,
        **overrides: object,
    ) -> Self:
        """Build settings from the command line's files and URL.

        Args:
            config: Box configuration file, or an already loaded configuration.
            broker: ``mqtt://host[:port]`` or ``mqtts://host[:port]``.
            data_dir: Folder of the agent's store.
            public_keys: PEM files of the trusted command-signing keys.
            tls_files: CA, client certificate and key for ``mqtts://``.
            bundle: An edge bundle written by ``docbox provision box``: its TLS files are
                used (``tls_files`` must then be None) and its box id must be the config's.
            **overrides: Further :class:`EdgeSettings` fields (timeouts).

        Raises:
            SettingsError: a file cannot be read or is invalid, the URL is bad, or the TLS
                files do not fit the URL's scheme.
        """
        url = parse_broker(broker)
        try:
            box = config if isinstance(config, BoxConfig) else load_box_config(config)
            pems = tuple(Path(p).read_text(encoding="ascii") for p in public_keys)
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"cannot read settings file: {exc}") from exc
        except ConfigError as exc:
            raise SettingsError(str(exc)) from exc
        if bundle is not None:
            if tls_files is not None:
                raise SettingsError("give either --bundle or the --mqtt-*-file options, not both")
            _check_bundle_box(bundle, box.box_id)
            tls_files = TlsFiles.in_bundle(bundle)
        tls: dict[str, object] = {}
        if tls_files is not None:
            tls = {
                "mqtt_ca_file": tls_files.ca_file,
                "mqtt_cert_file": tls_files.cert_file,
                "mqtt_key_file": tls_files.key_file,
            }
        try:
            return cls.model_validate(
                {
                    "box": box,
                    "broker_host": url.host,
                    "broker_port": url.port,
                    "broker_tls": url.tls,
                    **tls,
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
        grants: The pickup grants stored for offline collection.
        lockouts: Failed kiosk sign-ins and lockouts.
        desk: Sign-in, opening and handover at the kiosk.
        staff: Staff loading requests to the cloud.
        kiosk: The touchscreen's web server (None if disabled).
    """

    def __init__(self, settings: EdgeSettings, hardware: BoxHardware) -> None:
        """Open the store in ``settings.data_dir`` and wire the parts; nothing runs yet.

        Raises:
            SettingsError: the TLS files cannot be loaded.
            StoreError: the store cannot be opened.
        """
        # Before the store: a bad certificate must not leave an open database behind.
        tls_context = settings.tls_context()
        self.settings = settings
        self.hardware = hardware
        self._started = time.monotonic()
        self._conn = open_store(settings.data_dir)
        box = settings.box
        self.outbox = Outbox(self._conn, box.box_id)
        self.ledger = Ledger(self._conn, retention=timedelta(seconds=settings.ledger_retention_s))
        self.grants = GrantStore(self._conn)
        self.lockouts = Lockouts(self._conn, settings.lockout_limits)
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
                tls_context=tls_context,
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
            on_answer=self._on_answer,
        )
        self.staff = StaffLoading(
            box.box_id,
            self.link.publish_request,
            self.link.connected.is_set,
            answer_timeout_s=settings.kiosk_request_timeout_s,
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
            grants=self.grants,
            on_request_unlock=self.staff.on_unlock,
        )
        self.desk = PickupDesk(
            grants=self.grants,
            lockouts=self.lockouts,
            executor=self.executor,
            compartments=self.compartments,
            outbox=self.outbox,
            is_online=self.link.connected.is_set,
        )
        self.kiosk: KioskServer | None = None
        if settings.kiosk_enabled:
            self.kiosk = KioskServer(
                KioskOptions(
                    host=settings.kiosk_host, port=settings.kiosk_port, idle_s=settings.kiosk_idle_s
                ),
                desk=self.desk,
                staff=self.staff,
                is_online=self.link.connected.is_set,
            )
        #: Set once the kiosk serves (its URL is ``kiosk.url``).
        self.kiosk_ready = asyncio.Event()
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
            recovered = self.desk.recover()
            if recovered:
                log.info("%d pickups interrupted by a restart completed", recovered)
            self.started.set()
            async with asyncio.TaskGroup() as group:
                group.create_task(self.compartments.run(self.hardware.signals()), name="docbox-doors")
                group.create_task(self.link.run(), name="docbox-link")
                group.create_task(self._housekeeping(), name="docbox-housekeeping")
                if self.kiosk is not None:
                    kiosk_ready = self.kiosk_ready
                    group.create_task(self.kiosk.run(lambda _url: kiosk_ready.set()), name="docbox-kiosk")
        finally:
            self.started.clear()
            self.kiosk_ready.clear()
            await self.desk.close()
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
            bus_errors=self.hardware.bus_errors,
            doors_open=self.compartments.doors_open(),
        )

    async def _on_command(self, payload: bytes) -> CommandReply:
        # Indirection: the link is built before the executor (which needs the link's
        # snapshot publisher).
        return await self.executor.handle(payload)

    def _on_answer(self, payload: bytes) -> None:
        self.staff.on_answer(payload)

    async def _housekeeping(self) -> None:
        while True:
            try:
                pruned = self.ledger.prune(utcnow())
            except Exception:
                log.exception("cannot prune the command ledger")
            else:
                if pruned:
                    log.info("pruned %d long-expired command ids", pruned)
            try:
                now = utcnow()
                self.grants.prune(now, timedelta(seconds=self.settings.grant_retention_s))
                self.lockouts.prune(now.timestamp())
            except Exception:
                log.exception("cannot prune grants or sign-in failures")
            await asyncio.sleep(_LEDGER_PRUNE_INTERVAL_S)


def _check_bundle_box(bundle: Path, box_id: str) -> None:
    """Refuse an edge bundle made for another box than the configuration's.

    Raises:
        SettingsError: the manifest is missing or unreadable, or names another box.
    """
    manifest = bundle / _BUNDLE_MANIFEST
    try:
        bundle_box = json.loads(manifest.read_text(encoding="utf-8"))["box_id"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise SettingsError(f"cannot read the box id from {manifest}: {exc}") from exc
    if bundle_box != box_id:
        raise SettingsError(
            f"bundle {bundle} is for box {bundle_box!r}, but the configuration is box {box_id!r}"
        )


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
