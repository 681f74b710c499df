"""Throwaway real servers for tests: Mosquitto, PostgreSQL and InfluxDB.

Each server runs as a subprocess in its own temporary folder on a free loopback port.
It can be stopped (graceful), killed (SIGKILL, like a crash or power loss) and started
again on the same port with the same data, so tests can exercise reconnection and
recovery. Every started server is also killed when the test process exits.

A missing program raises :class:`ServiceUnavailable`; the pytest fixtures turn that
into a failure (never a skip) that says which Debian package to install.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.support.ports import LOOPBACK, free_port, port_accepts

__all__ = [
    "InfluxServer",
    "MosquittoServer",
    "PostgresServer",
    "ServiceError",
    "ServiceUnavailable",
    "find_postgres_bindir",
    "wait_until",
]

# Set to keep the temporary folders (logs, data) of the servers for a post-mortem.
KEEP_ENV = "DOCBOX_KEEP_TEST_SERVERS"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


class ServiceError(RuntimeError):
    """A test server could not be started or controlled."""


class ServiceUnavailable(ServiceError):
    """The program a test server needs is not installed."""

    def __init__(self, program: str, package: str) -> None:
        super().__init__(
            f"{program} is not installed: install the Debian package {package} "
            f"(apt-get install {package}) or run ./dev.sh test as root, which installs it"
        )
        self.program = program
        self.package = package


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.005,
    message: str = "condition",
) -> None:
    """Poll ``condition`` until it is true; raise :class:`TimeoutError` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {message}")
        time.sleep(interval)


def _is_root() -> bool:
    return os.geteuid() == 0


def _keep_files() -> bool:
    return os.environ.get(KEEP_ENV, "") not in ("", "0")


def _read_tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]


class _Registry:
    """Servers still running, killed at interpreter exit whatever happened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: list[_Server] = []
        atexit.register(self.kill_all)

    def add(self, server: _Server) -> None:
        with self._lock:
            if server not in self._servers:
                self._servers.append(server)

    def discard(self, server: _Server) -> None:
        with self._lock:
            if server in self._servers:
                self._servers.remove(server)

    def kill_all(self) -> None:
        with self._lock:
            servers = list(self._servers)
        for server in servers:
            with contextlib.suppress(Exception):
                server.close(graceful=False)


class _Server:
    """What both servers share: lifecycle, context manager, clean-up registry."""

    host: str
    port: int
    directory: Path
    _owns_directory: bool

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def close(self, *, graceful: bool = True) -> None:
        """Stop the server (SIGTERM, or SIGKILL if not ``graceful``) and delete its folder."""
        try:
            if self.running:
                if graceful:
                    self.stop()
                else:
                    self.kill()
        finally:
            _registry.discard(self)
            if self._owns_directory and not _keep_files():
                shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_registry = _Registry()


# --------------------------------------------------------------------------- Mosquitto


class MosquittoServer(_Server):
    """A Mosquitto broker on a loopback port, with persistence in its own folder.

    Args:
        directory: Folder for the config, log and persistence files; a new temporary
            folder (deleted by :meth:`close`) when omitted.
        port: Port of the plain listener; a free port when omitted.
        extra_config: Further ``mosquitto.conf`` lines, appended to the generated ones.
            ``{port}``, ``{host}`` and ``{dir}`` in them are replaced.
        default_listener: Whether to open the anonymous plain listener on ``host:port``.
            Without it, ``extra_config`` must define a listener on ``port`` (e.g. a TLS
            listener with an ACL): :meth:`start` waits for that port.
        verbose: Log every packet (``log_type all``); slow under load.
        binary: The mosquitto program; found on PATH or in /usr/sbin when omitted.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        port: int | None = None,
        extra_config: Sequence[str] = (),
        default_listener: bool = True,
        verbose: bool = False,
        binary: str | None = None,
    ) -> None:
        if binary is None:
            binary = _find_program("mosquitto", ("/usr/sbin/mosquitto",))
        elif not os.access(binary, os.X_OK):
            raise ServiceUnavailable(binary, "mosquitto")
        self.binary = binary
        self.host = LOOPBACK
        self.port = port if port is not None else free_port()
        self._owns_directory = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="docbox-mosquitto-")) if directory is None else directory
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        _registry.add(self)  # so the folder goes even if the broker never starts
        self.persistence_dir = self.directory / "data"
        self.persistence_dir.mkdir(exist_ok=True)
        self.config_path = self.directory / "mosquitto.conf"
        self.log_path = self.directory / "mosquitto.log"
        self.output_path = self.directory / "mosquitto.out"
        self._extra_config = list(extra_config)
        self._default_listener = default_listener
        self._verbose = verbose
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def config_text(self) -> str:
        """The generated ``mosquitto.conf``."""
        lines = []
        if self._default_listener:
            lines += [f"listener {self.port} {self.host}", "allow_anonymous true"]
        lines += [
            # Nagle's algorithm doubles a QoS 1 round trip; see DESIGN.md.
            "set_tcp_nodelay true",
            "persistence true",
            f"persistence_location {self.persistence_dir}/",
            "persistence_file mosquitto.db",
            # The default of 1000 would drop messages for a box that was offline a while.
            "max_queued_messages 1000000",
            f"log_dest file {self.log_path}",
            "log_timestamp true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "connection_messages true",
        ]
        if self._verbose:
            lines.append("log_type all")
        else:
            lines += [f"log_type {kind}" for kind in ("error", "warning", "notice", "information")]
        if _is_root():
            # Otherwise mosquitto drops to the "mosquitto" user, which cannot write here.
            lines.append("user root")
        replacements = {"{port}": str(self.port), "{host}": self.host, "{dir}": str(self.directory)}
        for line in self._extra_config:
            for key, value in replacements.items():
                line = line.replace(key, value)
            lines.append(line)
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the broker (again, on the same port and data) and wait until it listens."""
        if self.running:
            return
        self.config_path.write_text(self.config_text())
        with self.output_path.open("ab") as output:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        _registry.add(self)
        try:
            wait_until(
                self._ready,
                timeout=timeout,
                message=f"mosquitto to listen on {self.host}:{self.port}",
            )
        except (TimeoutError, ServiceError) as exc:
            self.kill()
            raise ServiceError(
                f"mosquitto did not start: {exc}\n--- {self.output_path}:\n"
                f"{_read_tail(self.output_path)}\n--- {self.log_path}:\n{self.log_text()[-4000:]}"
            ) from exc

    def _ready(self) -> bool:
        assert self._process is not None
        code = self._process.poll()
        if code is not None:
            raise ServiceError(f"mosquitto exited with code {code}")
        return port_accepts(self.host, self.port)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the broker with SIGTERM; it saves its persistence file on the way out."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Kill the broker with SIGKILL: what it has not saved yet is lost."""
        self._end(signal.SIGKILL, STOP_TIMEOUT)

    def save(self) -> None:
        """Ask the running broker to write its persistence file now (SIGUSR1)."""
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGUSR1)

    def reload(self, timeout: float = START_TIMEOUT) -> None:
        """Make the broker re-read its configuration, ACL, certificates and CRL (SIGHUP).

        Returns once the broker logged the reload: it reloads in its single event loop
        before handling the next client, so connections made afterwards see the new files.
        """
        if self._process is None or not self.running:
            raise ServiceError("mosquitto is not running")
        before = self.log_text().count("Reloading config.")
        self._process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: self.log_text().count("Reloading config.") > before,
            timeout=timeout,
            message="mosquitto to reload its configuration",
        )

    def _end(self, sig: signal.Signals, timeout: float) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_text(self) -> str:
        """The broker's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


# --------------------------------------------------------------------------- PostgreSQL

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_postgres_bindir() -> Path:
    """Folder of ``initdb``/``postgres``: the newest /usr/lib/postgresql/N/bin, else PATH."""
    override = os.environ.get("DOCBOX_PG_BINDIR")
    if override:
        return Path(override)
    candidates = []
    for initdb in Path("/usr/lib/postgresql").glob("*/bin/initdb"):
        version = initdb.parent.parent.name
        if version.isdigit():
            candidates.append((int(version), initdb.parent))
        else:
            with contextlib.suppress(ValueError):
                candidates.append((int(float(version)), initdb.parent))
    if candidates:
        return max(candidates)[1]
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ServiceUnavailable("PostgreSQL server (initdb, postgres)", "postgresql")


class PostgresServer(_Server):
    """A throwaway PostgreSQL cluster on a loopback port, trust authentication.

    The postmaster is a direct child of the test process (not daemonised by pg_ctl),
    so a killed one is reaped at once and can be started again straight away. As root,
    every PostgreSQL program runs as the ``postgres`` OS user (PostgreSQL refuses to
    run as root) and the cluster's folder is created under the system temp folder,
    where that user can reach it. The durability shortcuts (``fsync=off``,
    ``full_page_writes=off``) only matter for an operating-system crash, so
    :meth:`kill` still models a database crash faithfully: committed transactions
    survive it.

    Args:
        port: A free port when omitted.
        bindir: Folder of initdb/postgres/psql; see :func:`find_postgres_bindir`.
        settings: Further server settings, as ``postgres -c name=value``.
    """

    user = "postgres"

    def __init__(
        self,
        *,
        port: int | None = None,
        bindir: Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.bindir = bindir if bindir is not None else find_postgres_bindir()
        for program in ("initdb", "postgres", "psql"):
            if not (self.bindir / program).exists():
                raise ServiceUnavailable(f"PostgreSQL's {program}", "postgresql")
        self._os_user: tuple[int, int] | None = None
        if _is_root():
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ServiceUnavailable("the postgres OS user", "postgresql") from exc
            self._os_user = (entry.pw_uid, entry.pw_gid)
        self.host = LOOPBACK
        self.port = port if port is not None else free_port()
        self._owns_directory = True
        self.directory = Path(tempfile.mkdtemp(prefix="docbox-pg-"))
        _registry.add(self)  # so the folder goes even if the cluster never starts
        self.data_dir = self.directory / "data"
        self.socket_dir = self.directory / "sock"
        self.socket_dir.mkdir()
        self.log_path = self.directory / "postgres.log"
        self.log_path.touch()
        if self._os_user is not None:
            for path in (self.directory, self.socket_dir, self.log_path):
                os.chown(path, *self._os_user)
        self.settings = {
            "listen_addresses": self.host,
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            # Segments in the data folder, not /dev/shm: a killed cluster leaves none behind.
            "dynamic_shared_memory_type": "mmap",
            "timezone": "UTC",
        }
        self.settings.update(settings or {})
        self._process: subprocess.Popen[bytes] | None = None

    # -- processes

    def _user_kwargs(self) -> dict[str, Any]:
        if self._os_user is None:
            return {}
        uid, gid = self._os_user
        return {"user": uid, "group": gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return env

    def _run(
        self, args: Sequence[str], *, as_postgres: bool = True, timeout: float = START_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                args,
                cwd=self.directory,  # reachable by the postgres user, unlike /root
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=True,
                **(self._user_kwargs() if as_postgres else {}),
            )
        except subprocess.CalledProcessError as exc:
            raise ServiceError(
                f"{' '.join(args)} failed with code {exc.returncode}:\n{exc.stdout}{exc.stderr}"
            ) from exc

    @property
    def initialized(self) -> bool:
        """Whether ``initdb`` has run."""
        return (self.data_dir / "PG_VERSION").exists()

    def initdb(self) -> None:
        """Create the cluster (:meth:`start` does this when needed)."""
        self._run(
            [
                str(self.bindir / "initdb"),
                f"--pgdata={self.data_dir}",
                "--auth=trust",
                f"--username={self.user}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the cluster (again, on the same port and data); wait until it accepts."""
        if not self.initialized:
            self.initdb()
        if self.running:
            return
        command = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for name, value in self.settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._user_kwargs(),
            )
        _registry.add(self)
        try:
            wait_until(self._ready, timeout=timeout, message="PostgreSQL to accept connections")
        except (TimeoutError, ServiceError) as exc:
            self.kill()
            raise ServiceError(
                f"PostgreSQL did not start: {exc}\n--- {self.log_path}:\n{self.log_text()[-4000:]}"
            ) from exc

    def _ready(self) -> bool:
        assert self._process is not None
        code = self._process.poll()
        if code is not None:
            raise ServiceError(f"postgres exited with code {code}")
        # pg_ctl -w waits the same way: postmaster.pid's 8th line turns "ready".
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0].strip() == str(self._process.pid) and lines[7].strip() == "ready"

    @property
    def pid(self) -> int | None:
        """Process id of the running postmaster."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        """Whether the postmaster is alive."""
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Shut down cleanly: "fast" shutdown (SIGINT) ends open sessions, then checkpoints."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Crash the server: SIGKILL the postmaster and all its backends at once.

        Killing only the postmaster would leave backends running for a moment, still
        attached to the shared memory, and a new postmaster would refuse to start.
        """
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGSTOP)  # no new backends from here on
        backends = _children(process.pid)
        shmid = self._sysv_shmid()
        process.kill()
        for backend in backends:
            with contextlib.suppress(ProcessLookupError):
                os.kill(backend, signal.SIGKILL)
        process.wait()
        wait_until(
            lambda: not any(_alive(backend) for backend in backends),
            timeout=STOP_TIMEOUT,
            message="killed PostgreSQL backends to end",
        )
        # A restart would remove the orphaned System V segment itself; one that is
        # never restarted would leak it.
        ipcrm = shutil.which("ipcrm")
        if shmid is not None and ipcrm:
            subprocess.run([ipcrm, "-m", shmid], capture_output=True, check=False)

    def _sysv_shmid(self) -> str | None:
        """The System V shared-memory id in ``postmaster.pid`` (line 7: key, id)."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            shmid = lines[6].split()[1]
        except (OSError, IndexError):
            return None
        return shmid if shmid.isdigit() else None

    def log_text(self) -> str:
        """The server's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- databases

    def url_for(self, database: str, driver: str | None = "asyncpg") -> str:
        """SQLAlchemy URL of ``database``, e.g. ``postgresql+asyncpg://postgres@…/name``.

        With ``driver=None`` it is a plain libpq/asyncpg DSN ``postgresql://…``.
        """
        scheme = "postgresql" if driver is None else f"postgresql+{driver}"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """``postgresql://postgres@127.0.0.1:PORT/database`` for asyncpg or psql."""
        return self.url_for(database, driver=None)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through ``psql`` and return its unaligned, tuples-only output."""
        result = self._run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-c",
                sql,
            ],
            as_postgres=False,
        )
        return result.stdout.strip()

    def create_database(self, name: str, driver: str | None = "asyncpg") -> str:
        """Create database ``name`` and return its URL (see :meth:`url_for`)."""
        if not _DB_NAME.fullmatch(name):
            raise ValueError(f"invalid database name {name!r}: use [a-z0-9_], at most 63")
        self.psql(f"CREATE DATABASE {name}")
        return self.url_for(name, driver)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, ending any connections still open to it."""
        if not _DB_NAME.fullmatch(name):
            raise ValueError(f"invalid database name {name!r}")
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --------------------------------------------------------------------------- InfluxDB


class InfluxServer(_Server):
    """An InfluxDB 1.x server (Debian's ``influxdb``, 1.6.7) on a loopback port, auth off.

    Its meta, data and WAL folders live in its own temporary folder. It serves the v1 HTTP
    API (``/write``, ``/query``, ``/ping``) that docbox's telemetry writer speaks.

    Args:
        port: HTTP port; a free port when omitted.
        binary: The influxd program; found on PATH or in /usr/bin when omitted.
    """

    def __init__(self, *, port: int | None = None, binary: str | None = None) -> None:
        if binary is None:
            try:
                binary = _find_program("influxd", ("/usr/bin/influxd",))
            except ServiceUnavailable:
                raise ServiceUnavailable("influxd", "influxdb") from None
        elif not os.access(binary, os.X_OK):
            raise ServiceUnavailable(binary, "influxdb")
        self.binary = binary
        self.host = LOOPBACK
        self.port = port if port is not None else free_port()
        # influxd also binds its RPC service (backup/restore); keep it off the default 8088.
        self.rpc_port = free_port()
        self._owns_directory = True
        self.directory = Path(tempfile.mkdtemp(prefix="docbox-influx-"))
        _registry.add(self)  # so the folder goes even if the server never starts
        self.config_path = self.directory / "influxdb.conf"
        self.output_path = self.directory / "influxd.out"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running server."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def config_text(self) -> str:
        """The generated ``influxdb.conf``."""
        d = self.directory
        return textwrap.dedent(
            f"""\
            reporting-enabled = false
            bind-address = "{self.host}:{self.rpc_port}"
            [meta]
              dir = "{d / "meta"}"
            [data]
              dir = "{d / "data"}"
              wal-dir = "{d / "wal"}"
              query-log-enabled = false
              wal-fsync-delay = "0s"
            [monitor]
              store-enabled = false
            [subscriber]
              enabled = false
            [http]
              bind-address = "{self.host}:{self.port}"
              auth-enabled = false
              log-enabled = false
            [logging]
              level = "warn"
            """
        )

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server (again, on the same port and data) and wait until /ping answers."""
        if self.running:
            return
        self.config_path.write_text(self.config_text())
        with self.output_path.open("ab") as output:
            self._process = subprocess.Popen(
                [self.binary, "-config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        _registry.add(self)
        try:
            wait_until(self._ready, timeout=timeout, message=f"influxd to answer on {self.url}/ping")
        except (TimeoutError, ServiceError) as exc:
            self.kill()
            raise ServiceError(
                f"influxd did not start: {exc}\n--- {self.output_path}:\n{self.log_text()[-4000:]}"
            ) from exc

    def _ready(self) -> bool:
        assert self._process is not None
        code = self._process.poll()
        if code is not None:
            raise ServiceError(f"influxd exited with code {code}")
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as response:
                return bool(response.status == 204)
        except OSError:
            return False

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server with SIGTERM (influxd takes a few seconds to close its shards)."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Kill the server with SIGKILL (what is in its WAL survives; WAL fsync is immediate)."""
        self._end(signal.SIGKILL, STOP_TIMEOUT)

    def _end(self, sig: signal.Signals, timeout: float) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_text(self) -> str:
        """The server's output so far."""
        return _read_tail(self.output_path, limit=1_000_000)

    # -- HTTP API

    def query(self, statement: str, database: str | None = None, *, epoch: str = "s") -> dict[str, Any]:
        """Run InfluxQL through ``/query`` and return the decoded JSON answer.

        Raises:
            ServiceError: if the server answers with an HTTP error.
        """
        params = {"q": statement, "epoch": epoch}
        if database is not None:
            params["db"] = database
        request = urllib.request.Request(
            f"{self.url}/query", data=urllib.parse.urlencode(params).encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ServiceError(f"influxd answered {exc.code}: {exc.read()[:500]!r}") from exc
        return answer

    def create_database(self, name: str) -> None:
        """Create database ``name`` (InfluxQL ``CREATE DATABASE``; a no-op if it exists)."""
        if not _DB_NAME.fullmatch(name):
            raise ValueError(f"invalid database name {name!r}: use [a-z0-9_], at most 63")
        self.query(f'CREATE DATABASE "{name}"')


# --------------------------------------------------------------------------- helpers


def _find_program(name: str, fallbacks: Iterable[str]) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in fallbacks:
        if os.access(candidate, os.X_OK):
            return candidate
    raise ServiceUnavailable(name, name)


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name in parentheses, which may itself contain ")".
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X", "x")


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children
