"""Encoding and decoding of messages, with precise and log-safe error reasons."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from docbox_protocol.errors import MessageError
from docbox_protocol.messages import SCHEMA_VERSION

M = TypeVar("M", bound=BaseModel)

#: Payloads larger than this are refused before parsing (the largest real message, a
#: 1,000-compartment snapshot, is about 80 kB).
MAX_PAYLOAD_BYTES = 512 * 1024


def encode(message: BaseModel) -> bytes:
    """Serialise a message to compact UTF-8 JSON."""
    return message.model_dump_json(exclude_none=False).encode()


def decode(model: type[M], payload: bytes | bytearray | str) -> M:
    """Parse ``payload`` as ``model``.

    Raises:
        MessageError: with a reason naming what is wrong (size, JSON, version, field), never
            echoing the payload's content.
    """
    if isinstance(payload, str):
        payload = payload.encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MessageError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"not JSON: {exc.__class__.__name__} at position {_pos(exc)}") from None
    if not isinstance(raw, dict):
        raise MessageError(f"expected a JSON object, got {type(raw).__name__}")
    version = raw.get("v")
    if version != SCHEMA_VERSION:
        raise MessageError(f"unsupported schema version {version!r} (this build speaks {SCHEMA_VERSION})")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise MessageError(f"invalid {model.__name__}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """Summarise a validation error by field location and message, without input values."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _pos(exc: Exception) -> int:
    return getattr(exc, "pos", getattr(exc, "start", 0))
