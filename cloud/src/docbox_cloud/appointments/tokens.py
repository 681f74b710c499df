"""Secrets handed to applicants (128-bit tokens, short codes) and how they are stored (hashed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata


def new_token() -> str:
    """A 128-bit random token, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def new_code() -> str:
    """A 6-digit confirmation code (guessing is bounded by the attempt limit)."""
    return f"{secrets.randbelow(1_000_000):06d}"


def token_hash(token: str) -> bytes:
    """SHA-256 of a token: the database stores only this (a 128-bit token needs no salt)."""
    return hashlib.sha256(token.encode()).digest()


def normalise_document_number(number: str) -> str:
    """Uppercase, without spaces, dashes and dots: how people type the same number differently."""
    folded = unicodedata.normalize("NFKC", number).upper()
    return "".join(ch for ch in folded if ch.isalnum())


def person_hash(document_number: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA-256) of a normalised document number, hex.

    Keyed rather than salted per row, because it must find the same person again; without the
    key the hash cannot be brute-forced over the small space of document numbers.
    """
    normalised = normalise_document_number(document_number)
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()
