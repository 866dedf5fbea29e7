"""The Redis client factory: a URL, or Sentinel's primary with the URL's db and credentials."""

from __future__ import annotations

import pytest
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.sentinel import SentinelConnectionPool

from streams.model.settings import Settings
from streams.store.redis_connect import async_redis, primary_options, sentinel_addresses, sync_redis

SENTINELS = "127.0.0.1:26379,sentinel-b:26380, [::1]:26381"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_sentinel_addresses_are_host_port_pairs() -> None:
    assert sentinel_addresses(SENTINELS) == [("127.0.0.1", 26379), ("sentinel-b", 26380), ("[::1]", 26381)]


@pytest.mark.parametrize("spec", ["", "host", "host:", ":26379", "a:1,b:x"])
def test_a_bad_sentinel_entry_is_named(spec: str) -> None:
    with pytest.raises(ValueError, match="is not host:port"):
        sentinel_addresses(spec)


def test_the_primary_keeps_the_urls_db_and_credentials() -> None:
    chosen = settings(redis_url="redis://newsmon:s3cret@ignored:1/3")
    assert primary_options(chosen, {"socket_timeout": 2}) == {
        "db": 3, "username": "newsmon", "password": "s3cret", "socket_timeout": 2,
    }  # fmt: skip


def test_without_sentinels_the_url_is_used() -> None:
    client = sync_redis(settings(redis_url="redis://10.0.0.5:6390/2"), socket_timeout=2)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == (
        "10.0.0.5",
        6390,
        2,
        2,
    )


def test_with_sentinels_the_sync_client_asks_them_for_the_named_primary() -> None:
    chosen = settings(redis_url="redis://x:1/4", redis_sentinels=SENTINELS, redis_sentinel_master="nm")
    client = sync_redis(chosen, socket_timeout=2, decode_responses=True)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "nm" and pool.is_master
    assert pool.connection_kwargs["db"] == 4 and pool.connection_kwargs["decode_responses"] is True
    sentinels = pool.sentinel_manager.sentinels
    assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in sentinels] == sentinel_addresses(SENTINELS)  # fmt: skip
    # The sentinels get the timeouts, not the data options.
    assert sentinels[0].connection_pool.connection_kwargs.get("decode_responses", False) is False
    assert sentinels[0].connection_pool.connection_kwargs["socket_timeout"] == 2


async def test_with_sentinels_the_asyncio_client_asks_them_too() -> None:
    chosen = settings(redis_sentinels=SENTINELS)
    client = async_redis(chosen, socket_timeout=5)
    pool = client.connection_pool
    assert isinstance(pool, AsyncSentinelPool)
    assert pool.service_name == "newsmon" and pool.connection_kwargs["db"] == 0
    assert len(pool.sentinel_manager.sentinels) == 3
    await client.aclose()
