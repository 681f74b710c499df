"""Debouncing and flapping detection for one digital input.

`Debouncer` is the pure state machine: it is fed raw edges with explicit timestamps and
asked to `expire` at its `deadline`, so it can be tested without clocks or event loops.
`LoopDebouncer` runs one on an asyncio loop with `call_later` timers (no polling).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settled:
    """The input has held a new level for the debounce time.

    Attributes:
        level: The new stable level.
        since: When that level was first seen (the raw edge), not when it was confirmed.
    """

    level: bool
    since: float


@dataclass(frozen=True, slots=True)
class Flapping:
    """The input changed more than the allowed number of times within the window."""

    changes: int
    window_s: float


Report = Settled | Flapping


class Debouncer:
    """Debounce state machine for one input.

    A level is reported (`Settled`) only after the raw input has stayed at it for `hold_s`;
    shorter glitches produce nothing. More than `flapping_changes` raw edges within
    `flapping_window_s` produce one `Flapping` report; while flapping, settled levels are
    held back until the input has been quiet for `calm_s`, then the level it rests at is
    reported if it differs from the last reported one.

    Args:
        initial: The stable level at start (not reported).
        hold_s: Debounce time: how long a new level must hold before it is reported.
        flapping_changes: Raw edges allowed within the window; one more means flapping.
        flapping_window_s: Length of the sliding window for counting raw edges.
        calm_s: Quiet time that ends a flapping episode; defaults to `flapping_window_s`.
    """

    def __init__(
        self,
        initial: bool,
        *,
        hold_s: float,
        flapping_changes: int,
        flapping_window_s: float,
        calm_s: float | None = None,
    ) -> None:
        if not hold_s >= 0 or math.isinf(hold_s):
            raise ValueError(f"hold_s must be a finite number >= 0, not {hold_s!r}")
        if flapping_changes < 1:
            raise ValueError(f"flapping_changes must be >= 1, not {flapping_changes!r}")
        if not flapping_window_s > 0:
            raise ValueError(f"flapping_window_s must be > 0, not {flapping_window_s!r}")
        self._hold_s = hold_s
        self._flapping_changes = flapping_changes
        self._window_s = flapping_window_s
        # Ending an episode sooner than the debounce time would report an unsettled level.
        self._calm_s = max(hold_s, flapping_window_s if calm_s is None else calm_s)
        self._stable = initial
        self._raw = initial
        self._raw_since = -math.inf
        self._edges: deque[float] = deque()
        self._flapping = False

    @property
    def stable(self) -> bool:
        """The last reported (or initial) level."""
        return self._stable

    @property
    def raw(self) -> bool:
        """The last raw level seen."""
        return self._raw

    @property
    def flapping(self) -> bool:
        """Whether a flapping episode is in progress."""
        return self._flapping

    @property
    def deadline(self) -> float | None:
        """When `expire` must be called next, or None if nothing is pending."""
        if self._flapping:
            return self._raw_since + self._calm_s
        if self._raw != self._stable:
            return self._raw_since + self._hold_s
        return None

    def edge(self, level: bool, at: float) -> Flapping | None:
        """Feed one raw edge; returns a `Flapping` report when an episode starts."""
        if level == self._raw:
            return None  # no change (e.g. a duplicate callback): must not restart the timer
        self._raw = level
        self._raw_since = at
        self._edges.append(at)
        horizon = at - self._window_s
        while self._edges and self._edges[0] <= horizon:
            self._edges.popleft()
        if not self._flapping and len(self._edges) > self._flapping_changes:
            self._flapping = True
            return Flapping(changes=len(self._edges), window_s=self._window_s)
        return None

    def expire(self, now: float) -> Settled | None:
        """Let time pass up to `now`; returns `Settled` when a new level is confirmed."""
        held = now - self._raw_since
        if self._flapping:
            if held < self._calm_s:
                return None
            self._flapping = False
            self._edges.clear()
        elif held < self._hold_s:
            return None
        if self._raw == self._stable:
            return None
        self._stable = self._raw
        return Settled(level=self._raw, since=self._raw_since)


class LoopDebouncer:
    """Runs a `Debouncer` on an asyncio event loop.

    `edge` must be called on the loop's thread (marshal with `loop.call_soon_threadsafe`);
    reports are passed to `on_report` on that thread.

    Args:
        debouncer: The state machine to drive.
        on_report: Receives `Settled` and `Flapping` reports.
        loop: The event loop; defaults to the running loop.
        clock: Time source matching the timestamps given to `edge`.
    """

    def __init__(
        self,
        debouncer: Debouncer,
        on_report: Callable[[Report], None],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.debouncer = debouncer
        self._on_report = on_report
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._clock = clock
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: float | None = None
        self._closed = False

    def edge(self, level: bool, at: float) -> None:
        """Feed one raw edge seen at `at`."""
        if self._closed:
            return
        report = self.debouncer.edge(level, at)
        if report is not None:
            self._on_report(report)
        self._sync_timer()

    def close(self) -> None:
        """Cancel the pending timer; later edges are ignored."""
        self._closed = True
        self._cancel_timer()

    def _expire(self) -> None:
        self._timer = None
        self._timer_deadline = None
        if self._closed:
            return
        report = self.debouncer.expire(self._clock())
        if report is not None:
            self._on_report(report)
        self._sync_timer()

    def _sync_timer(self) -> None:
        deadline = self.debouncer.deadline
        if self._timer is not None and deadline == self._timer_deadline:
            return
        self._cancel_timer()
        if deadline is None:
            return
        # If the timer fires a hair early, expire() reports nothing and we land here again.
        delay = max(0.0, deadline - self._clock())
        self._timer = self._loop.call_later(delay, self._expire)
        self._timer_deadline = deadline

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_deadline = None
