"""Retry policy and rate limiting for deliveries (pure: clocks and sleeps are passed in)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Literal

from streams.webhooks.receivers import Receiver

Verdict = Literal["delivered", "retry", "permanent"]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


def classify_status(status: int) -> Verdict:
    """2xx delivered; 408, 429 and 5xx worth retrying; anything else (other 4xx, 3xx) permanent."""
    if 200 <= status < 300:
        return "delivered"
    if status in (408, 429) or 500 <= status < 600:
        return "retry"
    return "permanent"


def backoff_ceiling(failures: int, initial: float, maximum: float) -> float:
    """Exponential cap after ``failures`` failed attempts: initial, 2·initial, 4·initial, … ≤ maximum."""
    return min(maximum, initial * 2.0 ** min(failures - 1, 60))


def backoff_delay(
    failures: int, initial: float, maximum: float, rand: Callable[[], float] = random.random
) -> float:
    """Full jitter: uniform in [0, ceiling), so retrying clients spread out."""
    return rand() * backoff_ceiling(failures, initial, maximum)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header (delta-seconds or HTTP-date) as seconds from ``now``; None when absent/bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


def next_delay(
    failures: int, receiver: Receiver, retry_after: float | None, rand: Callable[[], float] = random.random
) -> float:
    """Jittered backoff, but never sooner than the receiver's Retry-After (capped at retry_after_max)."""
    delay = backoff_delay(failures, receiver.backoff_initial, receiver.backoff_max, rand)
    if retry_after is None:
        return delay
    return max(delay, min(retry_after, receiver.retry_after_max))


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; the clock is injectable for tests."""

    def __init__(self, rate: float, burst: float | None = None, clock: Clock = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, rate) if burst is None else burst
        self.clock = clock
        self.tokens = self.burst
        self.updated = clock()

    def _refill(self, now: float) -> None:
        # max(): a clock that steps back must not drain the bucket.
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = max(self.updated, now)

    def try_take(self) -> float:
        """Take a token and return 0, or take nothing and return the seconds until one is due."""
        self._refill(self.clock())
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    async def acquire(self, sleep: Sleep = asyncio.sleep) -> None:
        while (wait := self.try_take()) > 0:
            await sleep(wait)
