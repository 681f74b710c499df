"""Counters of what the bridge did, which one can await (tests) or export (metrics)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable


class BridgeStats:
    """Counts per outcome, e.g. ``stored``, ``duplicate``, ``skipped``, ``connected``.

    :meth:`wait_until` lets a caller wait for a condition on the counts (under a deadline)
    instead of sleeping and hoping.
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._changed = asyncio.Event()

    def __getitem__(self, name: str) -> int:
        return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        """A copy of all counts."""
        return dict(self._counts)

    def add(self, name: str, amount: int = 1) -> None:
        """Count ``amount`` more of ``name`` and wake the waiters."""
        self._counts[name] += amount
        # Waiters hold the old event: setting it wakes them, and they re-check and wait
        # on the fresh one. No lock is needed, so counting never has to await.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_until(self, predicate: Callable[[BridgeStats], bool]) -> None:
        """Wait until ``predicate(self)`` holds; bound it with ``asyncio.timeout``."""
        while not predicate(self):
            await self._changed.wait()
