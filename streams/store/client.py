"""The worker's Redis connection, and the retry that pauses consumption while Redis is down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
import redis.exceptions

from streams.model.settings import Settings
from streams.store.redis_connect import async_redis

log = logging.getLogger(__name__)
T = TypeVar("T")
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def connect(settings: Settings) -> aioredis.Redis:
    """An asyncio client (or Sentinel's primary) whose calls time out (NEWSMON_REDIS_TIMEOUT_SECONDS) instead of hanging."""
    timeout = settings.redis_timeout_seconds
    return async_redis(settings, socket_timeout=timeout, socket_connect_timeout=timeout)


def _nothing() -> None:
    return None


class RedisRetry:
    """Retries a Redis call until Redis answers: consumption pauses, nothing is dropped."""

    def __init__(self, on_retry: Callable[[], None] = _nothing, max_delay: float = 5.0) -> None:
        self.on_retry = on_retry
        self.max_delay = max_delay

    async def __call__(self, call: Callable[[], Awaitable[T]]) -> T:
        delay = 0.2
        while True:
            try:
                return await call()
            except REDIS_DOWN as err:
                self.on_retry()
                log.warning("Redis unavailable (%s); retrying in %.1fs, consumption paused", err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
