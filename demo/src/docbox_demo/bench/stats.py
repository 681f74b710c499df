"""Small statistics helpers for the benchmarks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0–100) by the nearest-rank method."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Latency:
    """p50/p99/max of a sample in milliseconds."""

    n: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of_seconds(cls, samples: Sequence[float]) -> Latency:
        """Summarise samples given in seconds."""
        ms = [s * 1000 for s in samples]
        return cls(len(ms), percentile(ms, 50), percentile(ms, 99), max(ms))

    def row(self, label: str) -> str:
        """One aligned line of a report."""
        return (
            f"  {label:<44} n={self.n:<6} p50={self.p50_ms:8.2f} ms  "
            f"p99={self.p99_ms:8.2f} ms  max={self.max_ms:8.2f} ms"
        )
