"""Progress lines for long operations (issuing or rewriting hundreds of bundles)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Progress:
    """Reports ``label: done/total (item)`` at most once per ``interval_s``, and at the end.

    Lines rather than a redrawn bar, so that a log of the run (CI, ``script``) stays readable.

    Args:
        total: Number of items.
        label: What is being done, e.g. ``"issuing box certificates"``.
        write: Receives each line (the CLI passes stderr's echo).
        interval_s: Least time between two lines.
        clock: Monotonic clock (tests pass a fake one).
    """

    def __init__(
        self,
        total: int,
        label: str,
        write: Callable[[str], None],
        *,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self._write = write
        self._interval = interval_s
        self._clock = clock
        self._last: float | None = None

    def advance(self, item: str) -> None:
        """Count one finished item and report if due."""
        self.done += 1
        now = self._clock()
        if self.done == self.total or self._last is None or now - self._last >= self._interval:
            self._last = now
            self._write(f"{self.label}: {self.done}/{self.total} ({item})")


def silent(total: int, label: str) -> Progress:
    """A progress reporter that reports nothing (library use without a terminal)."""
    return Progress(total, label, lambda _line: None)
