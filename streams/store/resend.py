"""The re-send state of alertmanager_api receivers in Redis: firing spikes by label fingerprint, and whose turn it is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis

from streams.store.keys import RedisKeys


class ResendStore:
    """One hash per receiver (``<p>amresend:<receiver>``), so the schedule survives a worker restart."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)

    async def update(self, receiver: str, firing: Mapping[str, bytes], resolved: Sequence[str]) -> None:
        """Record firing entries (field → value) and drop resolved fields, in one transaction."""
        if not firing and not resolved:
            return
        key = self.keys.am_resend(receiver)
        async with self.client.pipeline(transaction=True) as pipe:
            if firing:
                pipe.hset(key, mapping=cast(Any, dict(firing)))
            if resolved:
                pipe.hdel(key, *resolved)
            await pipe.execute()

    async def entries(self, receiver: str) -> dict[str, bytes]:
        raw: dict[bytes, bytes] = await self.client.hgetall(self.keys.am_resend(receiver))  # type: ignore[assignment]
        return {field.decode(): value for field, value in raw.items()}

    async def take_turn(self, receiver: str, seconds: float) -> bool:
        """True for the one worker that re-sends for ``receiver`` in the next ``seconds``."""
        key = self.keys.am_resend_turn(receiver)
        return bool(await self.client.set(key, b"1", nx=True, px=max(1, int(seconds * 1000))))
