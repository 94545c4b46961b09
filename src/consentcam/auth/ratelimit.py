"""In-process token buckets for rate limits (login, enrolment).

Each key (a caller, a client address, an address and user name) has a bucket of ``burst`` tokens
refilled at ``per_minute``; a request takes one or is told how long to wait. Routes count an
authenticated caller per principal and anonymous requests per address, in separate namespaces
(``bucket_key``), so anonymous traffic from a kiosk's address never spends the kiosk's budget.
Limits are per process: with several API nodes each node limits on its own, which still caps
guessing at nodes x the rate.
The clock is injectable so tests control time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from consentcam.auth.roles import Principal

Clock = Callable[[], float]
# Beyond this many keys, buckets that have refilled completely are forgotten (they hold no
# state worth keeping), so a stream of distinct keys cannot grow memory without bound.
MAX_KEYS = 10_000


def bucket_key(principal: Principal | None, address: str) -> str:
    """The bucket a request counts against: its principal's wherever it calls from (a kiosk
    behind NAT, a phone changing networks), or, unauthenticated, its client address's. The
    prefixes keep the two apart, so neither can spend the other's budget."""
    if principal is not None:
        return f"principal:{principal.tenant_id}:{principal.user_id}"
    return f"address:{address}"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One limit (``per_minute``, ``burst``) applied to many keys."""

    def __init__(self, per_minute: float, burst: int, clock: Clock = time.monotonic) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("a rate limit needs per_minute > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        # FastAPI runs sync dependencies in a thread pool: buckets are shared across threads.
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 if one was available, else the seconds until one is."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                self._prune(now)
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        if len(self._buckets) < MAX_KEYS:
            return
        full_after = self.burst / self.rate
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]
        if len(self._buckets) >= MAX_KEYS:
            # Everyone is active: forget the least recently seen half rather than grow.
            by_age = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in by_age[: len(by_age) // 2]:
                del self._buckets[key]


class RateLimits:
    """The named limits of one application, sharing one clock."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._limits: dict[str, TokenBuckets] = {}
        self._lock = threading.Lock()

    def get(self, name: str, per_minute: float, burst: int | None = None) -> TokenBuckets:
        """The limit called ``name``, created with these settings on first use (a name keeps
        its first settings; give different limits different names)."""
        with self._lock:
            limit = self._limits.get(name)
            if limit is None:
                size = burst if burst is not None else max(1, round(per_minute))
                limit = self._limits[name] = TokenBuckets(per_minute, size, self.clock)
            return limit
