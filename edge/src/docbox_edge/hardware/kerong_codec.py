"""Frames of the Kerong CU16/CU48 RS-485 lock controller boards (pure functions, no I/O).

The driver (`kerong.py`) and the simulated board (`kerong_sim.py`) both use this module, so
they speak exactly the same bytes, and a correction of the format, which is documented only
loosely in public, touches this one module. docs/hardware.md lists the sources and the
assumptions.

Every frame starts with STX (0x02), has ETX (0x03) as its second-to-last byte and ends with
SUM, the low byte of the sum of all preceding bytes (STX and ETX included)::

    CU16 request  STX ADDR CMD ETX SUM                 ADDR = board << 4 | lock index
         reply    STX ADDR 0x35 H1 H2 S1 S2 ETX SUM    H = hook feedback, S = infrared sensors
    CU48 request  STX ADDR LOCK CMD ETX SUM            LOCK = lock index
         reply    STX ADDR LOCK 0x65 D1..D6 ETX SUM    D = hook feedback

Commands: "read the status of the board" (CU16 0x30, CU48 0x50) and "unlock one lock"
(CU16 0x31, CU48 0x51); the board answers both with its status frame, so an unlock comes
back with fresh per-lock feedback. Lock indexes on the wire count from 0; channels (the lock
numbers printed on the board, and what the rest of docbox uses) count from 1. Bit *n* of the
data bytes (bit 0 of the first byte first) belongs to channel *n + 1*; a set hook bit means
the lock's hook is engaged: the door is shut and latched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType

from docbox_edge.hardware.errors import BusError

STX = 0x02
ETX = 0x03


class KerongModel(StrEnum):
    """Board models of the family; they differ in framing and lock count."""

    CU16 = "cu16"
    CU48 = "cu48"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Framing constants of one board model.

    Attributes:
        locks: Locks (channels) per board.
        max_address: Highest board address on the bus (set by DIP switches).
        status_command: Command byte "read the status of all locks".
        unlock_command: Command byte "unlock one lock".
        reply_command: Command byte of the status reply.
        request_length: Bytes in a request frame.
        reply_length: Bytes in a reply frame.
        data_bytes: Bytes of hook feedback bits in a reply.
        sensor_bytes: Bytes of infrared sensor bits in a reply (CU16 only).
    """

    locks: int
    max_address: int
    status_command: int
    unlock_command: int
    reply_command: int
    request_length: int
    reply_length: int
    data_bytes: int
    sensor_bytes: int


SPECS: Mapping[KerongModel, ModelSpec] = MappingProxyType(
    {
        # The board number shares the address byte with the lock index: 4 bits each.
        KerongModel.CU16: ModelSpec(
            locks=16,
            max_address=15,
            status_command=0x30,
            unlock_command=0x31,
            reply_command=0x35,
            request_length=5,
            reply_length=9,
            data_bytes=2,
            sensor_bytes=2,
        ),
        KerongModel.CU48: ModelSpec(
            locks=48,
            max_address=31,
            status_command=0x50,
            unlock_command=0x51,
            reply_command=0x65,
            request_length=6,
            reply_length=12,
            data_bytes=6,
            sensor_bytes=0,
        ),
    }
)


class Command(Enum):
    """What a request asks the board to do."""

    STATUS = "status"
    UNLOCK = "unlock"


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded request frame.

    Attributes:
        model: Board model the frame was framed for.
        address: Board address.
        command: What is asked.
        channel: The lock to unlock (1-based); None for a status request.
    """

    model: KerongModel
    address: int
    command: Command
    channel: int | None = None


@dataclass(frozen=True, slots=True)
class BoardStatus:
    """The status frame of one board.

    Attributes:
        model: Board model.
        address: Board address.
        locked: Hook feedback per channel (index 0 = channel 1); True = hook engaged, door shut.
        sensors: Infrared sensor per channel (CU16: something in the compartment); None on CU48.
    """

    model: KerongModel
    address: int
    locked: tuple[bool, ...]
    sensors: tuple[bool, ...] | None = None

    def is_locked(self, channel: int) -> bool:
        """Hook feedback of one channel (1-based)."""
        _check_channel(self.model, channel)
        return self.locked[channel - 1]


class FrameError(BusError):
    """A reply frame is malformed: wrong length, framing bytes, command or address."""


class ChecksumError(FrameError):
    """A reply frame's SUM byte does not match its contents."""


def checksum(data: bytes | bytearray) -> int:
    """Low byte of the sum of `data` (the SUM byte of a frame without its SUM)."""
    return sum(data) & 0xFF


def encode_request(request: Request) -> bytes:
    """Frame a request.

    Raises:
        ValueError: Address or channel out of range, or a channel missing for an unlock.
    """
    spec = SPECS[request.model]
    _check_address(request.model, request.address)
    if request.command is Command.UNLOCK:
        if request.channel is None:
            raise ValueError("an unlock request needs a channel")
        _check_channel(request.model, request.channel)
        command, index = spec.unlock_command, request.channel - 1
    else:
        command, index = spec.status_command, 0
    if request.model is KerongModel.CU16:
        body = bytes((STX, request.address << 4 | index, command, ETX))
    else:
        body = bytes((STX, request.address, index, command, ETX))
    return body + bytes((checksum(body),))


def encode_unlock(model: KerongModel, address: int, channel: int) -> bytes:
    """Frame "unlock lock `channel` (1-based) of board `address`"."""
    return encode_request(Request(model, address, Command.UNLOCK, channel))


def encode_status_query(model: KerongModel, address: int) -> bytes:
    """Frame "report the status of all locks of board `address`"."""
    return encode_request(Request(model, address, Command.STATUS))


def decode_request(model: KerongModel, frame: bytes | bytearray) -> Request:
    """Parse a request frame (the simulated board's side).

    Raises:
        FrameError: Not a valid request of this model.
    """
    spec = SPECS[model]
    _check_framing(frame, spec.request_length, "request")
    if model is KerongModel.CU16:
        address, index, command = frame[1] >> 4, frame[1] & 0x0F, frame[2]
    else:
        address, index, command = frame[1], frame[2], frame[3]
    if command == spec.unlock_command:
        if index >= spec.locks:
            raise FrameError(f"unlock of lock index {index}: a {model} board has {spec.locks} locks")
        return Request(model, address, Command.UNLOCK, index + 1)
    if command == spec.status_command:
        return Request(model, address, Command.STATUS)
    raise FrameError(f"unknown command byte {command:#04x} in request {frame.hex(' ')}")


def encode_status(status: BoardStatus, *, channel: int | None = None) -> bytes:
    """Frame a status reply (the simulated board's side).

    Args:
        status: What to report.
        channel: The lock the request named (echoed in the address or lock byte); None = 0.

    Raises:
        ValueError: Address out of range, or bit lists of the wrong length.
    """
    model = status.model
    spec = SPECS[model]
    _check_address(model, status.address)
    if len(status.locked) != spec.locks:
        raise ValueError(f"a {model} status needs {spec.locks} hook bits, not {len(status.locked)}")
    index = 0 if channel is None else channel - 1
    data = _pack_bits(status.locked)
    if spec.sensor_bytes:
        sensors = status.sensors if status.sensors is not None else (False,) * spec.locks
        if len(sensors) != spec.locks:
            raise ValueError(f"a {model} status needs {spec.locks} sensor bits, not {len(sensors)}")
        data += _pack_bits(sensors)
    if model is KerongModel.CU16:
        head = bytes((STX, status.address << 4 | index, spec.reply_command))
    else:
        head = bytes((STX, status.address, index, spec.reply_command))
    body = head + data + bytes((ETX,))
    return body + bytes((checksum(body),))


def decode_status(model: KerongModel, frame: bytes | bytearray, *, address: int) -> BoardStatus:
    """Parse and check the status reply of board `address`.

    Raises:
        ChecksumError: The SUM byte is wrong.
        FrameError: Wrong length, framing bytes, command byte, or another board's address.
    """
    spec = SPECS[model]
    _check_framing(frame, spec.reply_length, "reply")
    if model is KerongModel.CU16:
        sender, command, first = frame[1] >> 4, frame[2], 3
    else:
        sender, command, first = frame[1], frame[3], 4
    if command != spec.reply_command:
        raise FrameError(
            f"reply command byte {command:#04x}, expected {spec.reply_command:#04x} ({frame.hex(' ')})"
        )
    if sender != address:
        raise FrameError(f"reply from board address {sender}, expected {address} ({frame.hex(' ')})")
    data = frame[first : first + spec.data_bytes]
    locked = _unpack_bits(data, spec.locks)
    sensors = None
    if spec.sensor_bytes:
        start = first + spec.data_bytes
        sensors = _unpack_bits(frame[start : start + spec.sensor_bytes], spec.locks)
    return BoardStatus(model=model, address=sender, locked=locked, sensors=sensors)


def _check_framing(frame: bytes | bytearray, length: int, what: str) -> None:
    if len(frame) != length:
        raise FrameError(f"{what} of {len(frame)} bytes, expected {length} ({frame.hex(' ') or 'nothing'})")
    if frame[0] != STX or frame[-2] != ETX:
        raise FrameError(f"{what} without STX/ETX framing ({frame.hex(' ')})")
    expected = checksum(frame[:-1])
    if frame[-1] != expected:
        raise ChecksumError(f"{what} checksum {frame[-1]:#04x}, expected {expected:#04x} ({frame.hex(' ')})")


def _check_address(model: KerongModel, address: int) -> None:
    top = SPECS[model].max_address
    if not 0 <= address <= top:
        raise ValueError(f"a {model} board address is 0-{top}, not {address}")


def _check_channel(model: KerongModel, channel: int) -> None:
    locks = SPECS[model].locks
    if not 1 <= channel <= locks:
        raise ValueError(f"a {model} board has channels 1-{locks}, not {channel}")


def _pack_bits(bits: Sequence[bool]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def _unpack_bits(data: bytes | bytearray, count: int) -> tuple[bool, ...]:
    return tuple(bool(data[i // 8] >> (i % 8) & 1) for i in range(count))
