"""Confirm that a batch's writes reached the replicas (Redis WAIT) before its Kafka offsets are committed."""

from __future__ import annotations

import redis.asyncio as aioredis

from streams.store.keys import RedisKeys


class ReplicaWait:
    """`await wait()` returns how many replicas acknowledged every write completed before the call.

    WAIT counts the replicas that acknowledged the *calling connection's* last write, and a client's
    pool hands each command any connection: so the marker is written and WAITed for on one connection
    (one pipeline). Replication is one ordered stream, so the marker's offset covers every write whose
    reply arrived before it, whichever connection made it.
    """

    def __init__(self, client: aioredis.Redis, keys: RedisKeys, replicas: int, timeout_ms: int) -> None:
        if replicas < 1:
            raise ValueError("ReplicaWait needs at least one replica to wait for")
        self.client = client
        self.keys = keys
        self.replicas = replicas
        self.timeout_ms = timeout_ms

    async def __call__(self) -> int:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.incr(self.keys.replicated)
            pipe.wait(self.replicas, self.timeout_ms)
            _, acknowledged = await pipe.execute()
        return int(acknowledged)
