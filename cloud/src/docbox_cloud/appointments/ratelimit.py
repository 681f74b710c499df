"""Token-bucket rate limits per client address and per person.

In-process state: with several API replicas each enforces its own budget, so the effective
limit is N times higher. A deployment with replicas should move the buckets into a shared
store (PostgreSQL or Redis) — see docs/appointments.md.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

from docbox_cloud.appointments.errors import RateLimitedError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """Allow ``burst`` requests at once per key, refilled at ``rate_per_s``.

    Args:
        burst: Bucket capacity.
        rate_per_s: Tokens added per second.
        max_keys: Buckets kept (least recently used ones are dropped, which only forgives).
        name: What is limited, for the error message ("address", "person").
    """

    def __init__(
        self, burst: int, rate_per_s: float, *, max_keys: int = 100_000, name: str = "client"
    ) -> None:
        self._burst = float(burst)
        self._rate = rate_per_s
        self._max_keys = max_keys
        self._name = name
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> None:
        """Spend one token of ``key``'s bucket.

        Args:
            key: Client address or person hash.
            now: Monotonic time in seconds.

        Raises:
            RateLimitedError: if the bucket is empty; ``retry_after_s`` says when a token is back.
        """
        with self._lock:
            bucket = self._buckets.pop(key, None) or _Bucket(self._burst, now)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            if bucket.tokens < 1:
                retry = max(1, math.ceil((1 - bucket.tokens) / self._rate))
                raise RateLimitedError(
                    f"too many requests for this {self._name}: retry in {retry} s", retry_after_s=retry
                )
            bucket.tokens -= 1
