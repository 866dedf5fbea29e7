"""ReplicaWait on the stack's sentinel part: a real primary and its one replica."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis
from redis.sentinel import Sentinel

from streams.store.keys import RedisKeys
from streams.store.redis_connect import sentinel_addresses
from streams.store.replicas import ReplicaWait
from tests.reliability.cluster import stack_stdout
from tests.reliability.faults import stack

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def sentinel_env() -> Iterator[dict[str, str]]:
    stack("up", "sentinel")
    out = stack_stdout("cluster-env")
    yield dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line)
    stack("down", "sentinel")


@pytest.fixture
async def primary(sentinel_env: dict[str, str]) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(sentinel_env["NEWSMON_REDIS_URL"])
    yield client
    await client.aclose()


def replica_of(env: dict[str, str]) -> redis.Redis:
    sentinels = sentinel_addresses(env["NEWSMON_REDIS_SENTINELS"])
    master = env.get("NEWSMON_REDIS_SENTINEL_MASTER", "newsmon")
    (host, port), *_ = Sentinel(sentinels).discover_slaves(master)  # type: ignore[no-untyped-call]
    return redis.Redis(host=host, port=port)


async def test_a_write_on_another_connection_is_on_the_replica_once_waited_for(
    primary: aioredis.Redis, sentinel_env: dict[str, str]
) -> None:
    keys = RedisKeys(f"test-wait:{uuid.uuid4().hex[:8]}:")
    writer = aioredis.from_url(sentinel_env["NEWSMON_REDIS_URL"])  # its own connection, as the pool's may be
    await writer.set(keys.clock, 42)
    await writer.aclose()
    assert await ReplicaWait(primary, keys, 1, 2000)() == 1
    replica = replica_of(sentinel_env)
    assert (replica.get(keys.clock), replica.get(keys.replicated)) == (b"42", b"1")
    replica.close()
    await primary.delete(keys.clock, keys.replicated)


async def test_asking_for_more_replicas_than_there_are_times_out_with_the_count(
    primary: aioredis.Redis,
) -> None:
    keys = RedisKeys(f"test-wait:{uuid.uuid4().hex[:8]}:")
    assert await ReplicaWait(primary, keys, 2, 50)() == 1
    await primary.delete(keys.replicated)
