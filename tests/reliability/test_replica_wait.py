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


def sentinel_of(env: dict[str, str]) -> tuple[Sentinel, str]:
    sentinels = sentinel_addresses(env["NEWSMON_REDIS_SENTINELS"])
    return Sentinel(sentinels), env.get("NEWSMON_REDIS_SENTINEL_MASTER", "newsmon")  # type: ignore[no-untyped-call]


def primary_url(env: dict[str, str]) -> str:
    """Where the primary is now: after test_cluster's failover it is the part's second Redis."""
    sentinel, master = sentinel_of(env)
    host, port = sentinel.discover_master(master)  # type: ignore[no-untyped-call]
    return f"redis://{host}:{port}/0"


@pytest.fixture
async def primary(sentinel_env: dict[str, str]) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(primary_url(sentinel_env))
    yield client
    await client.aclose()


def replica_of(env: dict[str, str]) -> redis.Redis:
    sentinel, master = sentinel_of(env)
    (host, port), *_ = sentinel.discover_slaves(master)  # type: ignore[no-untyped-call]
    return redis.Redis(host=host, port=port)


async def test_a_write_on_another_connection_is_on_the_replica_once_waited_for(
    primary: aioredis.Redis, sentinel_env: dict[str, str]
) -> None:
    keys = RedisKeys(f"test-wait:{uuid.uuid4().hex[:8]}:")
    writer = aioredis.from_url(primary_url(sentinel_env))  # its own connection, as the pool's may be
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
