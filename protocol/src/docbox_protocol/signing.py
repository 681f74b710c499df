"""Ed25519 signing of commands (cloud side) and their verification (edge side).

The signature covers the exact bytes of the command JSON, which travel base64url-encoded in
:class:`~docbox_protocol.messages.SignedCommand`. Verification is strict: the key must be one
of the configured public keys (several may be configured during a key rotation), the
signature must verify, and the signed bytes must parse as a :class:`Command`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from docbox_protocol.codec import describe
from docbox_protocol.errors import SignatureError
from docbox_protocol.messages import (
    MAX_COMMAND_LIFETIME_S,
    Command,
    CommandAction,
    RejectReason,
    SignedCommand,
    utcnow,
)


def b64e(data: bytes) -> str:
    """Encode bytes as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """Decode canonical unpadded base64url; raises ``binascii.Error`` or ``ValueError`` otherwise.

    Only the canonical spelling is accepted: several texts can decode to the same bytes (the
    unused low bits of the last character are ignored by the decoder), and a signed envelope
    should have exactly one valid form (found by fuzzing the command topic).
    """
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64e(data) != text:
        raise ValueError("not canonical base64url")
    return data


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the 16-hex-digit id of a public key (a SHA-256 prefix of its raw bytes)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_private_key() -> Ed25519PrivateKey:
    """Create a new command-signing key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """Serialise a private key as unencrypted PKCS#8 PEM (store it with mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """Serialise a public key as SubjectPublicKeyInfo PEM."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(data: bytes) -> Ed25519PrivateKey:
    """Parse a PEM private key; raises SignatureError if it is not Ed25519."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"cannot load private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError("command-signing key must be Ed25519")
    return key


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """Parse a PEM public key; raises SignatureError if it is not Ed25519."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"cannot load public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("command-verification key must be Ed25519")
    return key


def load_public_keys(paths: Iterable[Path]) -> list[Ed25519PublicKey]:
    """Load several PEM public keys (e.g. old and new during a rotation)."""
    return [load_public_key(Path(p).read_bytes()) for p in paths]


class CommandSigner:
    """Signs commands with the cloud's private key."""

    def __init__(self, private_key: Ed25519PrivateKey, lifetime_s: float = 10.0) -> None:
        if not 0 < lifetime_s <= MAX_COMMAND_LIFETIME_S:
            raise ValueError(f"lifetime_s must be in (0, {MAX_COMMAND_LIFETIME_S}]")
        self._key = private_key
        self._key_id = key_id(private_key.public_key())
        self._lifetime = timedelta(seconds=lifetime_s)

    @property
    def key_id(self) -> str:
        """Id of the signing key's public half."""
        return self._key_id

    def command(self, box_id: str, body: CommandAction, now: datetime | None = None) -> Command:
        """Build a fresh command (new id, expiry ``lifetime_s`` ahead)."""
        issued = now or utcnow()
        return Command(
            id=uuid.uuid4(),
            box_id=box_id,
            issued_at=issued,
            expires_at=issued + self._lifetime,
            body=body,
        )

    def sign(self, command: Command) -> SignedCommand:
        """Sign ``command`` and wrap it for the wire."""
        raw = command.model_dump_json().encode()
        return SignedCommand(key_id=self._key_id, payload=b64e(raw), signature=b64e(self._key.sign(raw)))


class CommandVerifier:
    """Verifies signed commands against the cloud's public key(s)."""

    def __init__(self, public_keys: Iterable[Ed25519PublicKey]) -> None:
        self._keys = {key_id(k): k for k in public_keys}
        if not self._keys:
            raise ValueError("at least one public key is required")

    def verify(self, signed: SignedCommand) -> Command:
        """Return the command if the signature verifies.

        Raises:
            SignatureError: ``args[0]`` is a :class:`RejectReason` value, ``args[1]`` a detail.
        """
        key = self._keys.get(signed.key_id)
        if key is None:
            raise SignatureError(RejectReason.UNKNOWN_KEY, f"key {signed.key_id} is not trusted")
        try:
            raw = b64d(signed.payload)
            signature = b64d(signed.signature)
        except (binascii.Error, ValueError):
            raise SignatureError(RejectReason.MALFORMED, "payload or signature is not base64url") from None
        try:
            key.verify(signature, raw)
        except InvalidSignature:
            raise SignatureError(RejectReason.BAD_SIGNATURE, "signature does not verify") from None
        try:
            return Command.model_validate_json(raw)
        except ValidationError as exc:
            # Signed by a trusted key but unparsable: a version skew, not an attack.
            raise SignatureError(RejectReason.MALFORMED, describe(exc)) from None


def check_window(
    command: Command,
    box_id: str,
    now: datetime,
    clock_skew_s: float = 5.0,
) -> tuple[RejectReason, str] | None:
    """Check that a verified command is meant for ``box_id`` and valid at ``now``.

    Returns ``None`` when it may run, else the reason and a short detail. ``clock_skew_s``
    tolerates a box clock that runs a little behind or ahead of the cloud's.
    """
    skew = timedelta(seconds=clock_skew_s)
    if command.box_id != box_id:
        return RejectReason.WRONG_BOX, f"command is for box {command.box_id}"
    lifetime = (command.expires_at - command.issued_at).total_seconds()
    if lifetime > MAX_COMMAND_LIFETIME_S:
        return RejectReason.LIFETIME_TOO_LONG, f"lifetime {lifetime:.1f}s > {MAX_COMMAND_LIFETIME_S}s"
    if now > command.expires_at + skew:
        return RejectReason.EXPIRED, f"expired {(now - command.expires_at).total_seconds():.1f}s ago"
    if command.issued_at > now + skew:
        return RejectReason.NOT_YET_VALID, "issued in the future"
    return None
