"""A minimal Faust app for the stack test: counts each message of a topic into a Redis hash."""

from __future__ import annotations

import os

import faust
import redis.asyncio as aioredis

TOPIC = os.environ["PROBE_TOPIC"]
HASH = os.environ["PROBE_HASH"]

app = faust.App(
    "newsmon-probe-" + TOPIC,
    broker="kafka://" + os.environ["NEWSMON_KAFKA_BOOTSTRAP"],
    store="memory://",
    web_enabled=False,
    topic_disable_leader=True,
)
topic = app.topic(TOPIC, key_type=bytes, value_type=bytes, value_serializer="raw")
store = aioredis.from_url(os.environ["NEWSMON_REDIS_URL"])


@app.agent(topic)
async def count(stream: faust.StreamT[bytes]) -> None:
    async for value in stream:
        await store.hincrby(HASH, value.decode(), 1)
