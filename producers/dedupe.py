"""Which article ids were already published: Redis in production, memory in tests."""

from __future__ import annotations

from typing import Protocol

import redis.asyncio as aioredis

from streams.store.keys import RedisKeys

DEFAULT_SEEN_TTL_S = 7 * 24 * 3600


class SeenStore(Protocol):
    """Claims article ids so that each is published once, across restarts."""

    async def claim(self, article_id: str) -> bool:
        """True the first time an id is claimed (within the TTL), False afterwards."""

    async def release(self, article_id: str) -> None:
        """Forget a claim whose article could not be delivered, so a later poll retries it."""


class MemorySeenStore:
    """A process-local SeenStore (tests, and ``--stdout`` runs without Redis)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def claim(self, article_id: str) -> bool:
        if article_id in self.ids:
            return False
        self.ids.add(article_id)
        return True

    async def release(self, article_id: str) -> None:
        self.ids.discard(article_id)


class RedisSeenStore:
    """``SET <prefix>published:<id> 1 NX EX ttl``: atomic, shared by every poller instance.

    Its own key, not the worker's ``seen:`` marker: a producer's claim must not stop the count.
    """

    def __init__(self, client: aioredis.Redis, keys: RedisKeys, ttl_s: int = DEFAULT_SEEN_TTL_S) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s

    async def claim(self, article_id: str) -> bool:
        return bool(await self.client.set(self.keys.published(article_id), 1, nx=True, ex=self.ttl_s))

    async def release(self, article_id: str) -> None:
        await self.client.delete(self.keys.published(article_id))
