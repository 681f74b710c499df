"""Staff PIN hashing: scrypt with a per-account salt, stored as ``scrypt$<salt>$<hash>``."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from docbox_protocol.signing import b64d, b64e

_N, _R, _P = 2**14, 8, 1


def hash_pin(pin: str) -> str:
    """Return the storable hash of a staff PIN."""
    salt = secrets.token_bytes(16)
    return f"scrypt${b64e(salt)}${b64e(_derive(pin, salt))}"


def verify_pin(pin: str, stored: str) -> bool:
    """Return whether ``pin`` matches ``stored`` (constant-time; malformed hashes never match)."""
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(b64e(_derive(pin, b64d(salt))), digest)


def _derive(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32, maxmem=64 * 1024 * 1024)
