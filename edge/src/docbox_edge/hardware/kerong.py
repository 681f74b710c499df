"""Lock board driver for Kerong CU16/CU48 lock controllers on an RS-485 bus (pyserial).

The controller switches its coils itself: `pulse` sends one "unlock" command and the board
energises that lock for the unlock time set on the controller. docbox never re-sends an
unlock (a lost reply does not say whether the board acted; a second pulse is a second
unlock), so the pulse length is bounded by the controller's setting, which must not exceed
the compartment's `pulse_ms` (docs/hardware.md). `pulse` returns once that time has passed.

Door states come from the locks' hook feedback, read by status polling (`KerongBus` polls
every board on its line in turn) and from the status each unlock reply carries. The raw
feedback goes through the same `Debouncer` as GPIO inputs; because samples arrive only
every poll period, a new state must be seen in two polls in a row (the hold time is at
least 1.5 poll periods).

Bus errors (no reply within the timeout, garbled frames, a failing port) never stop the
polling: each is counted in the board's `bus_errors` and logged at WARNING with its reason
(after three in a row, further ones are counted silently until the board answers again,
and the board is polled only every tenth round, so its timeouts do not slow the line).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import termios
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import serial

from docbox_edge.hardware.debounce import Debouncer, LoopDebouncer, Report, Settled
from docbox_edge.hardware.errors import (
    BoardNotRunning,
    BusError,
    CoilBusy,
    ConfigError,
    HardwareError,
    PulseInterrupted,
    UnknownChannel,
)
from docbox_edge.hardware.kerong_codec import (
    SPECS,
    BoardStatus,
    KerongModel,
    decode_status,
    encode_status_query,
    encode_unlock,
)
from docbox_edge.hardware.lockboard import (
    PULSE_HARD_MAX_S,
    ChannelChange,
    ChannelFlapping,
    ChannelSignal,
    ChannelSignalHandler,
    DoorState,
)

log = logging.getLogger(__name__)

_LOGGED_ERRORS_IN_A_ROW = 3  # also: from then on a board counts as gone and is polled less often
OFFLINE_POLL_EVERY = 10
"""A board that failed three transfers in a row is polled only every this many rounds."""
# pyserial lets termios errors of a vanished device through unwrapped (reset_input_buffer).
_PORT_ERRORS = (serial.SerialException, OSError, termios.error)
_POLLS_TO_CONFIRM = 1.5  # hold time in poll periods: a state must show in two polls in a row


class BusTimeout(BusError):
    """A board did not answer (completely) within the reply timeout."""


class KerongBus:
    """One RS-485 line (one serial port) and the Kerong boards on it.

    Transfers run one at a time in a dedicated thread (pyserial blocks), so commands of
    different boards never interleave on the wire and the event loop never waits for the
    line. The bus polls the status of its attached boards in turn, one round every
    `poll_interval_s` (the shortest interval of its boards); an unlock waits for at most the
    transfer in progress.

    Args:
        port: Serial device of the RS-485 adapter, e.g. "/dev/ttyUSB0".
        baudrate: Line speed (8N1).

    Raises:
        ValueError: `baudrate` is not positive.
    """

    def __init__(self, port: str, *, baudrate: int = 19200) -> None:
        if baudrate <= 0:
            raise ValueError(f"baudrate must be > 0, not {baudrate}")
        self.port = port
        self.baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._io_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._boards: list[KerongLockBoard] = []
        self._poll_task: asyncio.Task[None] | None = None
        self._closed = False
        self.transfers = 0
        """Transfers that got a complete reply (not necessarily a valid one)."""

    @property
    def is_open(self) -> bool:
        """Whether `open()` succeeded and `close()` was not called (the port may be reopening)."""
        return self._executor is not None and not self._closed

    @property
    def boards(self) -> list[KerongLockBoard]:
        """The boards being polled."""
        return list(self._boards)

    @property
    def polling(self) -> bool:
        """Whether the polling task is running."""
        return self._poll_task is not None and not self._poll_task.done()

    @property
    def poll_interval_s(self) -> float:
        """Period of one polling round: the shortest interval of the attached boards."""
        return min((b.poll_interval_s for b in self._boards), default=math.inf)

    def open(self) -> None:
        """Open the serial port (8N1, exclusive); idempotent.

        Raises:
            HardwareError: The port cannot be opened, or the bus is closed.
        """
        if self._closed:
            raise HardwareError(f"RS-485 bus {self.port} is closed")
        if self._executor is not None:
            return
        with self._io_lock:
            self._serial = self._open_port()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rs485 {self.port}")

    async def transfer(self, request: bytes, reply_length: int, timeout_s: float) -> bytes:
        """Send one request and read a reply of `reply_length` bytes.

        Raises:
            BusTimeout: The reply did not arrive completely within `timeout_s`.
            BusError: The port failed or is closed.
        """
        executor = self._executor
        if self._closed or executor is None:
            raise BusError(f"RS-485 bus {self.port} is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                executor, self._transfer_blocking, request, reply_length, timeout_s
            )
        except RuntimeError as exc:  # the executor was shut down meanwhile
            raise BusError(f"RS-485 bus {self.port} is closed") from exc

    def attach(self, board: KerongLockBoard) -> None:
        """Poll `board` from now on (called by `KerongLockBoard.start`)."""
        if board not in self._boards:
            self._boards.append(board)
        if self._poll_task is None or self._poll_task.done():
            self._poll_task = asyncio.get_running_loop().create_task(
                self._poll_forever(), name=f"rs485 poll {self.port}"
            )

    def forget(self, board: KerongLockBoard) -> None:
        """Stop polling `board` (synchronous; the polling task ends after its round)."""
        if board in self._boards:
            self._boards.remove(board)

    async def detach(self, board: KerongLockBoard) -> None:
        """Stop polling `board`; the polling task ends with the last board."""
        self.forget(board)
        if not self._boards and self._poll_task is not None:
            task, self._poll_task = self._poll_task, None
            if task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._drain()

    def close(self) -> None:
        """Close the port; idempotent. Detach (close) the boards first."""
        if self._closed:
            return
        self._closed = True
        if self._poll_task is not None:
            self._poll_task.cancel()
        if self._executor is not None:
            # Waits for a transfer in progress (at most one reply timeout).
            self._executor.shutdown(wait=True, cancel_futures=True)
        with self._io_lock:
            if self._serial is not None:
                self._serial.close()
                self._serial = None

    async def _drain(self) -> None:
        # A cancelled poll leaves its transfer running in the thread: wait for it without
        # blocking the loop, so that close() finds the line idle.
        if self._executor is not None and not self._closed:
            with contextlib.suppress(RuntimeError):
                await asyncio.get_running_loop().run_in_executor(self._executor, lambda: None)

    def _open_port(self) -> serial.Serial:
        try:
            return serial.Serial(
                self.port,
                self.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=0.1,
                write_timeout=1.0,
                exclusive=True,  # a second process on the same line would garble both
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise HardwareError(f"cannot open RS-485 port {self.port}: {exc}") from exc

    def _transfer_blocking(self, request: bytes, reply_length: int, timeout_s: float) -> bytes:
        with self._io_lock:
            if self._closed:
                raise BusError(f"RS-485 bus {self.port} is closed")
            port = self._serial
            if port is None:
                # The port failed earlier (a USB adapter reset or unplugged): try it again.
                try:
                    port = self._serial = self._open_port()
                except HardwareError as exc:
                    raise BusError(str(exc)) from exc
            try:
                if port.timeout != timeout_s:
                    port.timeout = timeout_s
                # Bytes already waiting (a reply that came too late) are not this reply.
                port.reset_input_buffer()
                port.write(request)
                port.flush()
                reply = bytes(port.read(reply_length))
            except _PORT_ERRORS as exc:
                self._serial = None
                with contextlib.suppress(*_PORT_ERRORS):
                    port.close()
                raise BusError(
                    f"RS-485 port {self.port} failed, reopening it for the next transfer: {exc}"
                ) from exc
        if len(reply) < reply_length:
            got = f"{len(reply)} of {reply_length} bytes ({reply.hex(' ')})" if reply else "no reply"
            raise BusTimeout(f"{got} within {timeout_s * 1000:.0f} ms")
        self.transfers += 1
        return reply

    async def _poll_forever(self) -> None:
        loop = asyncio.get_running_loop()
        rounds = 0
        while self._boards:
            started = loop.time()
            rounds += 1
            for board in tuple(self._boards):
                if not board.poll_due(rounds):
                    continue
                try:
                    await board.poll_once()
                except Exception:  # a bug must not end the polling of every board on the line
                    log.exception("RS-485 bus %s: polling board %r failed", self.port, board.board_id)
            await asyncio.sleep(max(0.0, self.poll_interval_s - (loop.time() - started)))


class KerongLockBoard:
    """One Kerong CU16/CU48 lock controller on a `KerongBus`.

    Args:
        board_id: Name of the board in the box configuration.
        bus: The RS-485 line the board is on (shared with the other boards on it).
        model: CU16 or CU48.
        address: The board's address (DIP switches).
        channels: The lock numbers in use (1-16 or 1-48).
        debounce_s: A door state must hold this long (and for two polls) before it is reported.
        flapping_changes: Raw feedback changes allowed within the window before flapping.
        flapping_window_s: Window for counting raw feedback changes.
        poll_interval_s: Status polling period.
        reply_timeout_s: How long to wait for a reply.
        max_pulse_s: Longest `pulse` wait; requests are clamped to it.
        on_signal: Receives debounced door changes and flapping reports.

    Raises:
        ConfigError: Address or a channel out of range for the model.
    """

    def __init__(
        self,
        board_id: str,
        bus: KerongBus,
        *,
        model: KerongModel,
        address: int,
        channels: Iterable[int],
        debounce_s: float = 0.03,
        flapping_changes: int = 10,
        flapping_window_s: float = 5.0,
        poll_interval_s: float = 0.15,
        reply_timeout_s: float = 0.1,
        max_pulse_s: float = PULSE_HARD_MAX_S,
        on_signal: ChannelSignalHandler | None = None,
    ) -> None:
        spec = SPECS[model]
        if not 0 <= address <= spec.max_address:
            raise ConfigError(f"board {board_id!r}: a {model} address is 0-{spec.max_address}, not {address}")
        wanted = sorted(set(channels))
        bad = [c for c in wanted if not 1 <= c <= spec.locks]
        if bad:
            raise ConfigError(f"board {board_id!r}: a {model} has channels 1-{spec.locks}, not {bad}")
        if not (poll_interval_s > 0 and reply_timeout_s > 0):
            raise ValueError("poll_interval_s and reply_timeout_s must be > 0")
        self.board_id = board_id
        self.bus = bus
        self.model = model
        self.address = address
        self.poll_interval_s = poll_interval_s
        self.reply_timeout_s = reply_timeout_s
        self._spec = spec
        self._channels = wanted
        self._in_use = frozenset(wanted)
        self._hold_s = max(debounce_s, _POLLS_TO_CONFIRM * poll_interval_s)
        self._flapping_changes = flapping_changes
        self._flapping_window_s = flapping_window_s
        self._max_pulse_s = min(max_pulse_s, PULSE_HARD_MAX_S)
        self._on_signal = on_signal
        self._doors: dict[int, LoopDebouncer] = {}
        self._pulsing: dict[int, asyncio.Event] = {}  # channel -> set by close() to end the wait
        self._status: BoardStatus | None = None
        self._bus_errors = 0
        self._errors_in_a_row = 0
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<KerongLockBoard {self.board_id} {self.model}@{self.address} on {self.bus.port}>"

    @property
    def channels(self) -> list[int]:
        """The board's channel numbers in use."""
        return list(self._channels)

    @property
    def max_pulse_s(self) -> float:
        """Longest pulse wait (requests are clamped to it)."""
        return self._max_pulse_s

    @property
    def hold_s(self) -> float:
        """Debounce time in effect: the configured one, but at least 1.5 poll periods."""
        return self._hold_s

    @property
    def bus_errors(self) -> int:
        """Failed transfers with this board since it was created."""
        return self._bus_errors

    @property
    def online(self) -> bool:
        """Whether the last transfer with the board got a valid reply."""
        return self._status is not None and self._errors_in_a_row == 0

    @property
    def status(self) -> BoardStatus | None:
        """The last valid status reply (raw per-lock feedback), or None before the first."""
        return self._status

    def set_signal_handler(self, handler: ChannelSignalHandler | None) -> None:
        """Set the callback that receives debounced door changes and flapping reports."""
        self._on_signal = handler

    async def start(self) -> None:
        """Read the locks' feedback, then poll them; idempotent.

        The controller energises coils only on command, so there are no outputs to switch
        off. A board that does not answer does not stop the box: its doors count as shut
        until it answers, and every failed attempt is a bus error.

        Raises:
            BoardNotRunning: The board is closed.
            HardwareError: The bus is not open.
        """
        if self._closed:
            raise BoardNotRunning(f"board {self.board_id!r} is closed")
        if self._started:
            return
        if not self.bus.is_open:
            raise HardwareError(f"board {self.board_id!r}: RS-485 bus {self.bus.port} is not open")
        loop = asyncio.get_running_loop()
        status = self._status = await self._read_status("initial status read")
        for channel in self._channels:
            is_open = False if status is None else not status.is_locked(channel)
            debouncer = Debouncer(
                is_open,
                hold_s=self._hold_s,
                flapping_changes=self._flapping_changes,
                flapping_window_s=self._flapping_window_s,
            )
            self._doors[channel] = LoopDebouncer(
                debouncer, functools.partial(self._report, channel), loop=loop
            )
        self._started = True
        self.bus.attach(self)

    async def pulse(self, channel: int, duration_s: float) -> None:
        """Send one unlock command for `channel`; return after `duration_s` (clamped).

        The controller energises the coil for its own unlock time; this waits the
        configured pulse so that "returned" means "the coil is off again", as for GPIO.

        Raises:
            BoardNotRunning: Before `start()` or after `close()`.
            UnknownChannel: The board has no such channel in use.
            CoilBusy: That lock is being pulsed.
            ValueError: `duration_s` is not positive.
            BusError: The unlock was not confirmed by a valid reply (it is not re-sent).
            PulseInterrupted: `close()` ended the wait.
        """
        if not duration_s > 0:
            raise ValueError(f"pulse duration must be > 0 s, not {duration_s!r}")
        self._check_running()
        self._check_channel(channel)
        if channel in self._pulsing:
            raise CoilBusy(f"lock {self.board_id}/{channel} is already being pulsed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(duration_s, self._max_pulse_s)
        self._pulsing[channel] = interrupted = asyncio.Event()
        try:
            request = encode_unlock(self.model, self.address, channel)
            try:
                reply = await self.bus.transfer(request, self._spec.reply_length, self.reply_timeout_s)
                status = decode_status(self.model, reply, address=self.address)
            except BusError as exc:
                self._bus_error(f"unlock of lock {channel}", exc)
                raise BusError(
                    f"board {self.board_id!r}: unlock of lock {channel} not confirmed ({exc}); not re-sent"
                ) from exc
            self._bus_ok()
            self._apply(status, time.monotonic())
            remaining = deadline - loop.time()
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await interrupted.wait()
        finally:
            self._pulsing.pop(channel, None)
        if interrupted.is_set():
            raise PulseInterrupted(f"board {self.board_id!r} was closed during the pulse of lock {channel}")

    def door_is_open(self, channel: int) -> bool:
        """Debounced door state of one channel (from the lock's hook feedback).

        Raises:
            BoardNotRunning: Before `start()` or after `close()`.
            UnknownChannel: The board has no such channel in use.
        """
        self._check_running()
        self._check_channel(channel)
        return self._doors[channel].debouncer.stable

    def coil_is_on(self, channel: int) -> bool:
        """Whether an unlock of this lock is in progress (the controller times the coil)."""
        self._check_channel(channel)
        return channel in self._pulsing

    def poll_due(self, round_number: int) -> bool:
        """Whether the bus should poll this board in its round `round_number`.

        A board that stopped answering is asked only every `OFFLINE_POLL_EVERY`-th round:
        each of its timeouts holds up the line, and the boards that do answer must keep
        their poll period (their debounce time depends on it).
        """
        return self._errors_in_a_row < _LOGGED_ERRORS_IN_A_ROW or round_number % OFFLINE_POLL_EVERY == 0

    async def poll_once(self) -> None:
        """Read the status once and feed the debouncers; errors are counted, never raised."""
        if self._closed or not self._started:
            return
        status = await self._read_status("status poll")
        if status is not None and not self._closed:
            self._apply(status, time.monotonic())

    async def close(self) -> None:
        """Stop polling, end pulse waits and debounce timers; idempotent."""
        if self._closed:
            return
        self.close_now()
        await self.bus.detach(self)

    def close_now(self) -> None:
        """`close()` for callers outside the event loop; the bus drops the board at its next round."""
        if self._closed:
            return
        self._closed = True
        for interrupted in self._pulsing.values():
            interrupted.set()
        for door in self._doors.values():
            door.close()
        self.bus.forget(self)

    async def _read_status(self, purpose: str) -> BoardStatus | None:
        try:
            reply = await self.bus.transfer(
                encode_status_query(self.model, self.address), self._spec.reply_length, self.reply_timeout_s
            )
            status = decode_status(self.model, reply, address=self.address)
        except BusError as exc:
            self._bus_error(purpose, exc)
            return None
        self._bus_ok()
        return status

    def _apply(self, status: BoardStatus, at: float) -> None:
        self._status = status
        for channel, door in self._doors.items():
            door.edge(not status.is_locked(channel), at)

    def _bus_error(self, what: str, exc: BusError) -> None:
        self._bus_errors += 1
        self._errors_in_a_row += 1
        if self._errors_in_a_row <= _LOGGED_ERRORS_IN_A_ROW:
            log.warning(
                "board %r (%s address %d on %s): %s failed: %s",
                self.board_id,
                self.model,
                self.address,
                self.bus.port,
                what,
                exc,
            )
        elif self._errors_in_a_row == _LOGGED_ERRORS_IN_A_ROW + 1:
            log.warning(
                "board %r: %d bus errors in a row; further ones are counted, not logged, until it answers",
                self.board_id,
                self._errors_in_a_row,
            )

    def _bus_ok(self) -> None:
        if self._errors_in_a_row > _LOGGED_ERRORS_IN_A_ROW:
            log.info("board %r answers again after %d failed transfers", self.board_id, self._errors_in_a_row)
        self._errors_in_a_row = 0

    def _report(self, channel: int, report: Report) -> None:
        signal: ChannelSignal
        if isinstance(report, Settled):
            state = DoorState.OPEN if report.level else DoorState.CLOSED
            signal = ChannelChange(channel=channel, state=state, at=report.since)
        else:
            signal = ChannelFlapping(channel=channel, changes=report.changes, window_s=report.window_s)
        if self._on_signal is not None:
            self._on_signal(signal)

    def _check_running(self) -> None:
        if self._closed:
            raise BoardNotRunning(f"board {self.board_id!r} is closed")
        if not self._started:
            raise BoardNotRunning(f"board {self.board_id!r} is not started")

    def _check_channel(self, channel: int) -> None:
        if channel not in self._in_use:
            raise UnknownChannel(self.board_id, channel)
