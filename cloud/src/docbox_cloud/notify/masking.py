"""Masking of recipients for logs: enough to tell messages apart, too little to identify anyone."""

from __future__ import annotations

from urllib.parse import urlsplit


def mask_recipient(to: str) -> str:
    """Return a masked form of an e-mail address, phone number or URL.

    ``anna.schmidt@example.org`` → ``a***@e***.org``, ``+4915112345678`` → ``+49*******78``,
    ``https://hooks.example.org/x/y`` → ``https://hooks.example.org/…``.
    """
    if "://" in to:
        parts = urlsplit(to)
        return f"{parts.scheme}://{parts.hostname or '?'}/…"
    if "@" in to:
        local, _, domain = to.rpartition("@")
        host, dot, tld = domain.rpartition(".")
        masked_domain = f"{host[:1]}***{dot}{tld}" if dot else f"{domain[:1]}***"
        return f"{local[:1]}***@{masked_domain}"
    digits = to.strip()
    if len(digits) <= 5:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 5)}{digits[-2:]}"
