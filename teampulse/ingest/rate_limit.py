"""Per-credential request rate limit of the ingest endpoint: one token bucket per caller.

A bucket holds at most `burst` tokens and gains `rate_per_s` tokens a second; a request
takes one. A caller that finds its bucket empty is told how long until the next token, which
the endpoint answers as 429 with Retry-After. The clock is a parameter, so the arithmetic is
tested without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter", "TokenBucket"]


@dataclass
class TokenBucket:
    rate_per_s: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Takes one token: 0.0 when one was there, else the seconds until one will be
        (and nothing is taken)."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate_per_s)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s


class RateLimiter:
    """The buckets by caller. Callers are configured credentials and connector platforms,
    or tenants, so the map stays as small as the configuration."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}

    def wait_s(
        self, caller: str, rate_per_s: float | None = None, burst: int | None = None
    ) -> float:
        """0.0 when `caller` may go ahead (a token is taken), else the seconds to wait. A
        caller with its own limit (a tenant's) passes it; a changed limit applies at once."""
        rate = self.rate_per_s if rate_per_s is None else rate_per_s
        size = float(self.burst if burst is None else max(1, burst))
        if rate <= 0:
            return 0.0
        now = self.clock()
        bucket = self.buckets.get(caller)
        if bucket is None:
            bucket = self.buckets[caller] = TokenBucket(rate, size, size, now)
        elif (bucket.rate_per_s, bucket.burst) != (rate, size):
            bucket.rate_per_s, bucket.burst = rate, size
            bucket.tokens = min(bucket.tokens, size)
        return bucket.take(now)
