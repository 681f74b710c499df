"""Simulated Kerong CU16/CU48 boards behind a pseudo-terminal, for tests and demos.

`SimulatedKerongBus` opens a pseudo-terminal pair (`os.openpty()`): the driver opens the
slave side by its path (`bus.path`) with pyserial, exactly like a USB RS-485 adapter, and a
thread serves the master side, answering every request addressed to one of its
`SimulatedKerongBoard`s with the frames of `kerong_codec`. Requests for addresses nobody
has stay unanswered, as on a real line.

A simulated board is the controller's electronics: per lock a coil (`VirtualPin`, high
while energised: from an unlock command for `unlock_time_s`) and a hook feedback input
(`VirtualPin`, high = hook engaged, reported as the lock's status bit). The physics, i.e.
the latch the coil releases, the door a person opens and shuts, the feedback switch that
follows it, come from `SimulatedBox`, which drives the feedback pins (pass the board as one
of its `boards`); without it, tests drive `feedback(channel)` themselves.

Faults for tests: `inject("garbage" | "silence" | "bad_checksum", count)` spoils the next
replies of a board; an unlock in a spoiled transfer is still carried out, as a board whose
reply got lost would. `glitch(channel, replies)` flips one lock's bit in the next replies,
a bouncing feedback switch as the poll sees it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import tty
from collections import Counter, deque
from dataclasses import replace
from typing import Literal

from docbox_edge.hardware.kerong_codec import (
    ETX,
    SPECS,
    STX,
    BoardStatus,
    Command,
    FrameError,
    KerongModel,
    Request,
    checksum,
    decode_request,
    encode_status,
)
from docbox_edge.hardware.simpins import SimLock, VirtualPin

log = logging.getLogger(__name__)

Fault = Literal["garbage", "silence", "bad_checksum"]


class SimulatedKerongBoard:
    """The electronics of one controller board.

    Args:
        model: CU16 or CU48.
        address: Board address on the bus.
        unlock_time_s: How long an unlock energises the coil (the controller's setting).
    """

    def __init__(self, model: KerongModel, address: int, *, unlock_time_s: float = 0.2) -> None:
        spec = SPECS[model]
        if not 0 <= address <= spec.max_address:
            raise ValueError(f"a {model} board address is 0-{spec.max_address}, not {address}")
        if not unlock_time_s > 0:
            raise ValueError(f"unlock_time_s must be > 0, not {unlock_time_s!r}")
        self.model = model
        self.address = address
        self.unlock_time_s = unlock_time_s
        self.locks = spec.locks
        name = f"{model}@{address}"
        self._coils = {ch: VirtualPin(f"{name}/{ch} coil") for ch in range(1, spec.locks + 1)}
        self._feedback = {
            ch: VirtualPin(f"{name}/{ch} feedback", idle_level=True) for ch in range(1, spec.locks + 1)
        }
        self._sensors = [False] * spec.locks
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._glitches: Counter[int] = Counter()  # channel -> replies still to flip
        self._timers: dict[int, threading.Timer] = {}
        self._unlocks: Counter[int] = Counter()
        self._closed = False
        self.requests = 0
        """Requests addressed to this board."""

    def lock(self, channel: int) -> SimLock:
        """The coil and feedback pins of one lock (for `SimulatedBox`)."""
        return SimLock(
            coil=self.coil(channel),
            sensor=self.feedback(channel),
            coil_on_level=True,
            sensor_open_level=False,  # feedback low = hook not engaged = door open
        )

    def coil(self, channel: int) -> VirtualPin:
        """The coil of one lock (high while energised)."""
        return self._coils[self._checked(channel)]

    def feedback(self, channel: int) -> VirtualPin:
        """The hook feedback input of one lock (high = hook engaged, door shut)."""
        return self._feedback[self._checked(channel)]

    def set_sensor(self, channel: int, present: bool) -> None:
        """Set a CU16 infrared sensor (something in the compartment)."""
        self._sensors[self._checked(channel) - 1] = present

    def unlock_count(self, channel: int) -> int:
        """How many unlock commands this lock received."""
        return self._unlocks[self._checked(channel)]

    def inject(self, fault: Fault, count: int = 1) -> None:
        """Spoil the next `count` replies: garbage bytes, no reply at all, or a wrong SUM."""
        if fault not in ("garbage", "silence", "bad_checksum"):
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._faults.extend([fault] * count)

    def glitch(self, channel: int, replies: int = 1) -> None:
        """Flip one lock's hook bit in the next `replies` replies (a bouncing switch seen by the poll)."""
        with self._lock:
            self._glitches[self._checked(channel)] += replies

    @property
    def pending_glitches(self) -> int:
        """Flipped replies not yet served."""
        return sum(self._glitches.values())

    @property
    def pending_faults(self) -> int:
        """Injected faults not yet served."""
        return len(self._faults)

    def status(self) -> BoardStatus:
        """What a status reply reports now (without glitches)."""
        locked = tuple(bool(self._feedback[ch].state) for ch in range(1, self.locks + 1))
        sensors = tuple(self._sensors) if SPECS[self.model].sensor_bytes else None
        return BoardStatus(model=self.model, address=self.address, locked=locked, sensors=sensors)

    def answer(self, request: Request) -> bytes | None:
        """Carry out a request (bus thread) and return the reply frame, or None for silence."""
        with self._lock:
            self.requests += 1
            fault = self._faults.popleft() if self._faults else None
            flipped = [ch for ch, left in self._glitches.items() if left > 0]
            self._glitches.subtract(flipped)
        if request.command is Command.UNLOCK and request.channel is not None:
            self._unlock(request.channel)
        if fault == "silence":
            return None
        status = self.status()
        if flipped:
            locked = list(status.locked)
            for channel in flipped:
                locked[channel - 1] = not locked[channel - 1]
            status = replace(status, locked=tuple(locked))
        reply = encode_status(status, channel=request.channel)
        if fault == "garbage":
            return bytes((0x80 + i) & 0xFF for i in range(len(reply)))
        if fault == "bad_checksum":
            return reply[:-1] + bytes(((reply[-1] + 1) & 0xFF,))
        return reply

    def close(self) -> None:
        """Cancel coil timers and switch every coil off."""
        with self._lock:
            self._closed = True
            timers = list(self._timers.values())
            self._timers.clear()
        for timer in timers:
            timer.cancel()
        for coil in self._coils.values():
            coil.drive(False)

    def _unlock(self, channel: int) -> None:
        with self._lock:
            if self._closed:
                return
            self._unlocks[channel] += 1
            old = self._timers.pop(channel, None)
            timer = threading.Timer(self.unlock_time_s, self._coil_off, args=(channel,))
            timer.daemon = True
            self._timers[channel] = timer
        if old is not None:
            old.cancel()
        self._coils[channel].drive(True)
        timer.start()

    def _coil_off(self, channel: int) -> None:
        with self._lock:
            self._timers.pop(channel, None)
        self._coils[channel].drive(False)

    def _checked(self, channel: int) -> int:
        if not 1 <= channel <= self.locks:
            raise ValueError(f"a {self.model} board has channels 1-{self.locks}, not {channel}")
        return channel


class SimulatedKerongBus:
    """A pseudo-terminal serving simulated boards of one model (one RS-485 line).

    Args:
        model: The model of every board on this line.
    """

    def __init__(self, model: KerongModel = KerongModel.CU48) -> None:
        self.model = model
        self._spec = SPECS[model]
        self._master, self._slave = os.openpty()
        # Raw mode: no echo of the replies back to us, no newline translation of frames.
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        """Device path the driver opens, like /dev/pts/3."""
        self._wake_read, self._wake_write = os.pipe()
        self._boards: dict[int, SimulatedKerongBoard] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        self.frames_rejected = 0
        """Bytes skipped while looking for a valid request frame."""
        self.requests = 0
        """Valid request frames received (for any address)."""

    def add_board(self, address: int, *, unlock_time_s: float = 0.2) -> SimulatedKerongBoard:
        """Put a board on the line.

        Raises:
            ValueError: The address is taken or out of range.
        """
        if address in self._boards:
            raise ValueError(f"address {address} is taken on {self.path}")
        board = SimulatedKerongBoard(self.model, address, unlock_time_s=unlock_time_s)
        self._boards[address] = board
        return board

    def board(self, address: int) -> SimulatedKerongBoard:
        """The board at `address` (KeyError if none)."""
        return self._boards[address]

    def start(self) -> None:
        """Start answering requests; idempotent."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=f"kerong-sim {self.path}", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the server thread, switch the coils off and close the pseudo-terminal."""
        if self._closed:
            return
        self._closed = True
        os.write(self._wake_write, b"x")
        if self._thread is not None:
            self._thread.join()
        for board in self._boards.values():
            board.close()
        for fd in (self._master, self._slave, self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> SimulatedKerongBus:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        buffer = bytearray()
        while True:
            ready, _, _ = select.select([self._master, self._wake_read], [], [])
            if self._wake_read in ready:
                return
            try:
                buffer += os.read(self._master, 4096)
            except OSError as exc:  # cannot happen while we hold the slave open; do not spin
                log.warning("simulated RS-485 line %s: read failed: %s", self.path, exc)
                return
            for request in self._requests(buffer):
                board = self._boards.get(request.address)
                reply = board.answer(request) if board is not None else None
                if reply:
                    self._write(reply)

    def _requests(self, buffer: bytearray) -> list[Request]:
        length = self._spec.request_length
        found = []
        while buffer:
            if buffer[0] != STX:
                del buffer[0]
                self.frames_rejected += 1
                continue
            if len(buffer) < length:
                break
            frame = bytes(buffer[:length])
            if frame[-2] != ETX or frame[-1] != checksum(frame[:-1]):
                del buffer[0]  # not a frame start after all: resynchronise on the next STX
                self.frames_rejected += 1
                continue
            del buffer[:length]
            try:
                found.append(decode_request(self.model, frame))
            except FrameError as exc:
                log.warning("simulated RS-485 line %s: %s", self.path, exc)
                continue
            self.requests += 1
        return found

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._master, view)
            view = view[written:]
