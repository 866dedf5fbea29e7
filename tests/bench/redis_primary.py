"""Capacity of one Redis primary for the counting script: articles/s of Redis CPU, and memory per
article (seen markers) and per (entity, source, minute) counted. Used by tests/bench/cost.py.

The script runs straight from RollingCounts (no Kafka, no worker) on cost.py's private redis-server,
so INFO's CPU and memory figures are the script's alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from streams.store.counts import RollingCounts, Tally
from streams.watchlist.compiled import compile_watchlist
from streams.worker.batch import tag_batch

ROOT = Path(__file__).resolve().parents[2]
BATCH = 500
DAY_MINUTES = 1440


@dataclass(frozen=True)
class Line:
    """A Kafka message's shape for tag_batch."""

    value: bytes
    key: bytes | None = None
    topic: str = "news.articles"
    partition: int = 0
    offset: int = 0
    timestamp: float = 0.0


def corpus_tallies(lines: Sequence[bytes]) -> list[Tally]:
    compiled = compile_watchlist(ROOT / "ops/watchlist.yaml", env={})
    messages = [Line(value, partition=i % 8) for i, value in enumerate(lines)]
    return tag_batch(compiled, messages, 1 << 20, datetime.now(UTC)).tallies


def grid_tallies(entities: int, sources: int, minutes: int, first_minute: int) -> list[Tally]:
    """One article per (entity, source, minute), one mention each: every combination is a new field."""
    return [
        Tally(article_id(f"g{e}.{s}.{m}"), first_minute + m, f"src{s}", {f"ent{e}": 1}, partition=0)
        for m in range(minutes) for s in range(sources) for e in range(entities)
    ]  # fmt: skip


def blank_tallies(n: int, minute: int) -> list[Tally]:
    return [Tally(article_id(f"b{i}"), minute, "src0", {}, partition=0) for i in range(n)]


def article_id(seed: str) -> str:
    """Ids as long as real ones (producers use a SHA-256 hex digest): a seen marker's key holds one."""
    return hashlib.sha256(seed.encode()).hexdigest()


async def record_all(url: str, tallies: Sequence[Tally]) -> None:
    client = aioredis.from_url(url)
    counts = RollingCounts(client, prefix=f"cap{uuid.uuid4().hex[:6]}:", partitions=1)
    for start in range(0, len(tallies), BATCH):
        await counts.record(tallies[start : start + BATCH], now=time.time())
    await client.aclose()


def measured(url: str, tallies: Sequence[Tally]) -> dict[str, float]:
    """Redis CPU seconds (user + sys) and used_memory bytes added while recording `tallies`."""
    client = redis.Redis.from_url(url)
    client.flushall()
    before_cpu, before_mem = client.info("cpu"), int(client.info("memory")["used_memory"])
    asyncio.run(record_all(url, tallies))
    after_cpu, after_mem = client.info("cpu"), int(client.info("memory")["used_memory"])
    client.close()
    cpu = sum(float(after_cpu[k]) - float(before_cpu[k]) for k in ("used_cpu_user", "used_cpu_sys"))
    return {"cpu": cpu, "memory": after_mem - before_mem, "n": len(tallies)}


def capacity(url: str, lines: Sequence[bytes]) -> dict[str, Any]:
    now_minute = int(time.time()) // 60
    corpus = corpus_tallies(lines)
    run = measured(url, corpus)
    blank = measured(url, blank_tallies(20_000, now_minute))
    grid_shape = (100, 10, 60)
    grid = measured(url, grid_tallies(*grid_shape, first_minute=now_minute - 60))
    per_article = blank["memory"] / blank["n"]
    per_combination = (grid["memory"] - per_article * grid["n"]) / grid["n"]
    mentions = sum(sum(t.mentions.values()) for t in corpus)
    return {
        "articles": run["n"], "mentions_per_article": mentions / run["n"], "cpu_s": run["cpu"],
        "articles_per_cpu_s": run["n"] / run["cpu"], "seen_bytes": per_article, "grid": grid_shape,
        "combination_bytes": per_combination, "per_entity_source_day": per_combination * DAY_MINUTES,
    }  # fmt: skip


def report(result: dict[str, Any]) -> None:
    e, s, m = result["grid"]
    print(f"\nOne Redis primary, the counting script alone ({result['articles']:,} corpus articles in batches "
          f"of {BATCH}, {result['mentions_per_article']:.2f} mentions per article):")  # fmt: skip
    print(
        f"  Redis CPU {result['cpu_s']:.2f} s -> {result['articles_per_cpu_s']:,.0f} articles/s per Redis core"
    )
    print(
        f"  memory per article (its seen marker, kept NEWSMON_SEEN_TTL_SECONDS): {result['seen_bytes']:.0f} B"
    )
    print(f"  memory per (entity, source, minute) counted ({e}x{s}x{m} grid; minute buckets and window fields): "
          f"{result['combination_bytes']:.0f} B")  # fmt: skip
    print(
        f"  -> per (entity, source) mentioned every minute of a day: {result['per_entity_source_day'] / 1024:.0f} KiB"
    )
