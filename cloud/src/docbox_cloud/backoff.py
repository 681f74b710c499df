"""Capped exponential backoff with jitter, for the bridge's reconnect loop."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double after each failure up to ``maximum``, each randomised.

    "Equal jitter": a delay is half the exponential step plus a random share of the other
    half, so many replicas that lost the broker together do not reconnect in lockstep, yet
    no delay is near zero.

    Args:
        initial: The first step in seconds.
        maximum: The cap in seconds.
        factor: Growth per failure.
    """

    def __init__(self, initial: float = 0.1, maximum: float = 10.0, factor: float = 2.0) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("need 0 < initial <= maximum")
        self._initial = initial
        self._maximum = maximum
        self._factor = factor
        self._attempt = 0

    def next_delay(self) -> float:
        """Return the delay before the next attempt and count one more failure."""
        step = min(self._maximum, self._initial * self._factor**self._attempt)
        self._attempt += 1
        return step / 2 + random.uniform(0, step / 2)

    def reset(self) -> None:
        """Start again from the initial delay (after a success)."""
        self._attempt = 0
