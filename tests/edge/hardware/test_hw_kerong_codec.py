"""Kerong CU16/CU48 frames: known byte sequences, round trips, and every way a reply can be bad."""

from __future__ import annotations

import random

import pytest

from docbox_edge.hardware.errors import BusError
from docbox_edge.hardware.kerong_codec import (
    SPECS,
    BoardStatus,
    ChecksumError,
    Command,
    FrameError,
    KerongModel,
    Request,
    checksum,
    decode_request,
    decode_status,
    encode_request,
    encode_status,
    encode_status_query,
    encode_unlock,
)

CU16, CU48 = KerongModel.CU16, KerongModel.CU48


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        # The published examples: "read board 0" and "unlock lock 1 of board 0".
        (encode_status_query(CU16, 0), "02 00 30 03 35"),
        (encode_status_query(CU48, 0), "02 00 00 50 03 55"),
        (encode_unlock(CU48, 0, 1), "02 00 00 51 03 56"),
        # The CU16 packs board and lock index into one byte; the CU48 has a byte each.
        (encode_unlock(CU16, 2, 3), "02 22 31 03 58"),
        (encode_unlock(CU16, 15, 16), "02 ff 31 03 35"),
        (encode_unlock(CU48, 12, 48), "02 0c 2f 51 03 91"),
    ],
)
def test_hw_kerong_requests_have_the_documented_bytes(frame: bytes, expected: str) -> None:
    assert frame.hex(" ") == expected


def test_hw_kerong_checksum_is_the_low_byte_of_the_sum() -> None:
    assert checksum(b"\x02\x00\x00\x50\x03") == 0x55
    assert checksum(bytes([0xFF] * 3)) == (3 * 0xFF) & 0xFF


@pytest.mark.parametrize("model", list(KerongModel))
def test_hw_kerong_every_request_round_trips(model: KerongModel) -> None:
    spec = SPECS[model]
    for address in range(spec.max_address + 1):
        status = Request(model, address, Command.STATUS)
        assert decode_request(model, encode_request(status)) == status
        for channel in range(1, spec.locks + 1):
            unlock = Request(model, address, Command.UNLOCK, channel)
            frame = encode_request(unlock)
            assert len(frame) == spec.request_length
            assert decode_request(model, frame) == unlock


@pytest.mark.parametrize("model", list(KerongModel))
def test_hw_kerong_status_round_trips_bit_for_bit(model: KerongModel) -> None:
    spec = SPECS[model]
    rng = random.Random(7)
    for _ in range(50):
        locked = tuple(rng.random() < 0.5 for _ in range(spec.locks))
        sensors = tuple(rng.random() < 0.5 for _ in range(spec.locks)) if spec.sensor_bytes else None
        address = rng.randrange(spec.max_address + 1)
        status = BoardStatus(model=model, address=address, locked=locked, sensors=sensors)
        frame = encode_status(status, channel=rng.randrange(1, spec.locks + 1))
        assert len(frame) == spec.reply_length
        assert decode_status(model, frame, address=address) == status


def test_hw_kerong_status_bit_n_is_channel_n_plus_1() -> None:
    # Lock 1 = bit 0 of the first data byte, lock 9 = bit 0 of the second.
    frame = bytes.fromhex("02 03 00 65 01 01 00 00 00 80 03")
    frame += bytes([checksum(frame)])
    status = decode_status(CU48, frame, address=3)
    assert [n for n in range(1, 49) if status.is_locked(n)] == [1, 9, 48]
    assert status.sensors is None


def test_hw_kerong_cu16_reply_carries_hooks_and_infrared_sensors() -> None:
    locked = tuple(n in (2, 16) for n in range(1, 17))
    sensors = tuple(n == 5 for n in range(1, 17))
    frame = encode_status(BoardStatus(CU16, 4, locked, sensors), channel=3)
    assert frame[:3].hex(" ") == "02 42 35"  # board 4, lock index 2 echoed, reply command
    assert frame[3:7].hex(" ") == "02 80 10 00"
    status = decode_status(CU16, frame, address=4)
    assert status.locked == locked
    assert status.sensors == sensors


def _status_frame(model: KerongModel = CU48, address: int = 1) -> bytes:
    return encode_status(BoardStatus(model, address, (True,) * SPECS[model].locks))


def test_hw_kerong_a_wrong_sum_is_a_checksum_error() -> None:
    frame = bytearray(_status_frame())
    frame[5] ^= 0x04  # one flipped bit on the line
    with pytest.raises(ChecksumError, match=r"checksum 0x.., expected 0x..") as caught:
        decode_status(CU48, bytes(frame), address=1)
    assert isinstance(caught.value, BusError)  # counted like any other bus error


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda f: f[:-1], r"reply of 11 bytes, expected 12"),
        (lambda f: b"", r"reply of 0 bytes, expected 12 \(nothing\)"),
        (lambda f: b"\x00" + f[1:], r"without STX/ETX"),
        (lambda f: f[:-2] + b"\x04" + f[-1:], r"without STX/ETX"),
    ],
)
def test_hw_kerong_malformed_replies_are_frame_errors(mangle: object, message: str) -> None:
    frame = mangle(_status_frame())  # type: ignore[operator]
    with pytest.raises(FrameError, match=message):
        decode_status(CU48, frame, address=1)


def test_hw_kerong_a_reply_from_another_board_is_refused() -> None:
    with pytest.raises(FrameError, match="reply from board address 2, expected 1"):
        decode_status(CU48, _status_frame(address=2), address=1)
    with pytest.raises(FrameError, match="reply from board address 9, expected 1"):
        decode_status(CU16, _status_frame(CU16, address=9), address=1)


def test_hw_kerong_a_request_echoed_back_is_not_a_reply() -> None:
    # Some RS-485 adapters echo what we send; a request must never pass for a status.
    request = encode_status_query(CU16, 0) + b"\x00" * 4
    body = request[:-1]
    with pytest.raises(FrameError):
        decode_status(CU16, body + bytes([checksum(body)]), address=0)
    frame = bytearray(_status_frame())
    frame[3] = 0x51
    frame[-1] = checksum(frame[:-1])
    with pytest.raises(FrameError, match="reply command byte 0x51, expected 0x65"):
        decode_status(CU48, bytes(frame), address=1)


def test_hw_kerong_bad_requests_are_refused_by_the_board_side() -> None:
    unknown = bytes([0x02, 0x00, 0x00, 0x52, 0x03])
    with pytest.raises(FrameError, match="unknown command byte 0x52"):
        decode_request(CU48, unknown + bytes([checksum(unknown)]))
    beyond = bytes([0x02, 0x00, 48, 0x51, 0x03])
    with pytest.raises(FrameError, match="lock index 48: a cu48 board has 48 locks"):
        decode_request(CU48, beyond + bytes([checksum(beyond)]))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: encode_unlock(CU16, 16, 1), "a cu16 board address is 0-15, not 16"),
        (lambda: encode_unlock(CU48, 32, 1), "a cu48 board address is 0-31, not 32"),
        (lambda: encode_unlock(CU16, 0, 17), "a cu16 board has channels 1-16, not 17"),
        (lambda: encode_unlock(CU48, 0, 0), "a cu48 board has channels 1-48, not 0"),
        (lambda: encode_request(Request(CU48, 0, Command.UNLOCK)), "needs a channel"),
        (lambda: encode_status(BoardStatus(CU48, 0, (True,) * 16)), "needs 48 hook bits, not 16"),
    ],
)
def test_hw_kerong_out_of_range_values_are_not_framed(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
