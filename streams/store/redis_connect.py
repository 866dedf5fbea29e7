"""Redis clients from Settings: the server at redis_url, or the primary that Redis Sentinel names."""

from __future__ import annotations

from typing import Any, cast

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.connection import parse_url
from redis.sentinel import Sentinel

from streams.model.settings import Settings

# What redis_url still says when Sentinel names the host: the database and the credentials.
URL_OPTIONS = ("db", "username", "password")


def sentinel_addresses(spec: str) -> list[tuple[str, int]]:
    """`host:port,host:port` as (host, port) pairs; ValueError names the bad entry."""
    addresses = []
    for entry in (part.strip() for part in spec.split(",")):
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"NEWSMON_REDIS_SENTINELS entry {entry!r} is not host:port")
        addresses.append((host, int(port)))
    if not addresses:
        raise ValueError("NEWSMON_REDIS_SENTINELS is empty")
    return addresses


def primary_options(settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    """Connection options for the primary: the URL's db and credentials, then the caller's."""
    from_url: dict[str, Any] = parse_url(settings.redis_url)  # type: ignore[no-untyped-call]
    return {**{key: from_url[key] for key in URL_OPTIONS if key in from_url}, **options}


def sentinel_options(options: dict[str, Any]) -> dict[str, Any]:
    """The sentinels get the caller's socket timeouts only (never decode_responses or a db)."""
    return {key: value for key, value in options.items() if key.startswith("socket_")}


def sync_redis(settings: Settings, **options: Any) -> redis.Redis:
    """A blocking client; with sentinels it follows the primary across failovers (redis-py
    re-asks the sentinels when a connection fails or the old primary answers READONLY)."""
    if not settings.redis_sentinels:
        return redis.Redis.from_url(settings.redis_url, **options)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py's sentinel module is untyped
        sentinel_addresses(settings.redis_sentinels), sentinel_kwargs=sentinel_options(options)
    )
    primary = sentinel.master_for(settings.redis_sentinel_master, **primary_options(settings, options))  # type: ignore[no-untyped-call]
    return cast(redis.Redis, primary)


def async_redis(settings: Settings, **options: Any) -> aioredis.Redis:
    """The asyncio client, following the primary like sync_redis."""
    if not settings.redis_sentinels:
        return aioredis.from_url(settings.redis_url, **options)
    sentinel = AsyncSentinel(  # type: ignore[no-untyped-call]  # as above
        sentinel_addresses(settings.redis_sentinels), sentinel_kwargs=sentinel_options(options)
    )
    primary = sentinel.master_for(settings.redis_sentinel_master, **primary_options(settings, options))
    return cast(aioredis.Redis, primary)
