"""Cost of WAIT per batch on the stack's sentinel part (a primary and one replica on loopback).

Each batch of 500 sample articles (ops/sample/articles.jsonl, tagged with ops/watchlist.yaml) is counted
by the worker's batch script, then (`wait` rows) confirmed by one replica as TagStep does with
NEWSMON_REDIS_WAIT_REPLICAS=1. Fresh keys per run, so every article is counted, never a duplicate.

Run: python3 ops/local/stack.py --profile dev5 up sentinel
     .venv/bin/python tests/bench/replica_wait.py [--profile dev5] [--batches 24]   (results: docs/deploy.md)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import redis.asyncio as aioredis

from streams.store.counts import RollingCounts, Tally
from streams.store.keys import RedisKeys
from streams.store.replicas import ReplicaWait
from streams.watchlist.compiled import compile_watchlist
from streams.worker.batch import tag_batch

ROOT = Path(__file__).resolve().parents[2]
BATCH = 500


@dataclass(frozen=True)
class Line:
    value: bytes
    key: bytes | None = None
    topic: str = "news.articles"
    partition: int = 0
    offset: int = 0
    timestamp: float = 0.0


def primary_url(profile: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "ops/local/stack.py"), "--profile", profile,
                          "cluster-env"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line)
    return env["NEWSMON_REDIS_URL"]


def sample_batches(batches: int) -> list[list[Tally]]:
    compiled = compile_watchlist(ROOT / "ops/watchlist.yaml", env={})
    lines = (ROOT / "ops/sample/articles.jsonl").read_bytes().splitlines()[: batches * BATCH]
    tallies = tag_batch(compiled, [Line(v, partition=i % 8) for i, v in enumerate(lines)], 1 << 20,
                        datetime.now(UTC)).tallies  # fmt: skip
    return [tallies[i : i + BATCH] for i in range(0, len(tallies), BATCH)]


async def run(url: str, batches: list[list[Tally]], wait: bool) -> list[float]:
    client = aioredis.from_url(url)
    prefix = f"bench-wait:{uuid.uuid4().hex[:8]}:"
    counts = RollingCounts(client, prefix=prefix, partitions=8)
    confirm = ReplicaWait(client, RedisKeys(prefix), 1, 1000) if wait else None
    seconds = []
    for batch in batches:
        began = time.perf_counter()
        await counts.record(batch)
        if confirm is not None and await confirm() < 1:
            raise SystemExit("WAIT timed out: is the replica up (stack.py up sentinel)?")
        seconds.append(time.perf_counter() - began)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    for i in range(0, len(keys), 500):
        await client.delete(*keys[i : i + 500])
    await client.aclose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="dev5")
    parser.add_argument("--batches", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3, help="alternating no-wait / wait rounds")
    args = parser.parse_args()
    url, batches = primary_url(args.profile), sample_batches(args.batches)
    results: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):  # alternate, so machine load hits both alike
        for wait in (False, True):
            results[wait] += asyncio.run(run(url, batches, wait))
    plain, waited = (statistics.median(results[w]) * 1000 for w in (False, True))
    p95 = statistics.quantiles(results[True], n=20)[18] * 1000
    print(f"batches of {BATCH} sample articles, {len(results[True])} per mode, primary {url}")
    print(f"  batch script only:          median {plain:7.2f} ms")
    print(f"  batch script + WAIT 1 1000:  median {waited:7.2f} ms  (p95 {p95:.2f} ms)")
    print(f"  WAIT cost per batch: {waited - plain:+.2f} ms  (ratio {waited / plain:.2f}x)")


if __name__ == "__main__":
    main()
