"""Writing secret and public files with the right permissions, atomically."""

from __future__ import annotations

import os
from pathlib import Path


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (mode 0600), atomically.

    The file is created with 0600 from the start (not chmod-ed afterwards), so the secret is
    never briefly readable by others.
    """
    _write_atomic(path, data, 0o600)


def write_public(path: Path, data: bytes) -> None:
    """Write a non-secret file (mode 0644), atomically."""
    _write_atomic(path, data, 0o644)


def secret_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make it accessible to the owner only (0700)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    # A reader (the broker reloading, a second command) sees the old file or the new one,
    # never half of one; fsync first, so a power cut cannot leave an empty file behind.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, mode)  # exact, whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
