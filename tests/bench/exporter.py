"""Exporter scrape cost for a watchlist of N entities: Redis read, family building and the encoded response.

Fills a private Redis prefix with every window hash for the first `--active` of N entities (all
non-zero; the rest never mentioned, as most of a lexicon is), per-minute buckets for the spike span
drawn from the active ones, and one spike detector over all entities; then times collect() and
generate_latest(). Needs Redis (NEWSMON_REDIS_URL, e.g. the test stack).

Run: .venv/bin/python tests/bench/exporter.py [--entities 10000] [--active N] [--per-minute 2000] [--runs 10]
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import redis  # noqa: E402
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402

from streams.exporter.collector import RedisCountsCollector  # noqa: E402
from streams.exporter.families import count_families  # noqa: E402
from streams.exporter.view import WatchView  # noqa: E402
from streams.model.settings import Settings  # noqa: E402
from streams.spikes.spec import load_spikes  # noqa: E402
from streams.store.counts import DEFAULT_WINDOWS  # noqa: E402
from streams.store.snapshot import read_snapshot  # noqa: E402

T = TypeVar("T")
CLOCK = 29_000_000
SPIKE = {"id": "any_burst", "entities": "*", "window": "10m", "baseline": "1h"}


def fill(client: redis.Redis, prefix: str, entities: list[str], per_minute: int, span: int) -> None:
    rng = random.Random(1)
    pipe = client.pipeline(transaction=False)
    pipe.set(f"{prefix}clock", CLOCK)
    for window in DEFAULT_WINDOWS:
        pipe.hset(f"{prefix}w:{window}", mapping={e: rng.randint(1, 50 * window) for e in entities})
        pipe.hset(f"{prefix}wd:{window}", mapping={e: rng.randint(1, 20) for e in entities})
    for minute in range(CLOCK - span + 1, CLOCK + 1):
        mentioned = rng.sample(entities, per_minute)
        pipe.hset(f"{prefix}m:{minute}", mapping={e: rng.randint(1, 9) for e in mentioned})
    pipe.sadd(f"{prefix}spike:firing", *(f"any_burst\t{e}" for e in entities[:10]))
    pipe.execute()


def timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """Median seconds of `runs` calls, and the last result."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--per-minute", type=int, default=2_000, help="entities mentioned in each minute")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--active", type=int, default=None, help="entities with counts (default: all)")
    args = parser.parse_args()
    active = args.entities if args.active is None else min(args.active, args.entities)
    settings = Settings()
    client = redis.Redis.from_url(settings.redis_url)
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    entities = [f"entity_{i:06d}" for i in range(args.entities)]
    view = WatchView(tuple(entities), load_spikes([SPIKE], entities, []))
    try:
        fill(client, prefix, entities[:active], min(args.per_minute, active), view.span_minutes())
        read_s, snap = timed(lambda: read_snapshot(client, prefix, view.span_minutes()), args.runs)
        build_s, families = timed(lambda: count_families(snap, view, 10), args.runs)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(RedisCountsCollector(client, prefix, view, top_n=10))
        scrape_s, body = timed(lambda: generate_latest(registry), args.runs)
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    series = sum(len(f.samples) for f in families)
    size = len(body)
    print(f"entities {args.entities} ({active} active), {len(DEFAULT_WINDOWS)} windows, 1 spike detector over all entities "
          f"(span {view.span_minutes()} min, {args.per_minute} entities per minute); median of {args.runs} runs")  # fmt: skip
    print(f"  Redis read (1 round trip, MULTI/EXEC): {read_s * 1000:8.1f} ms")
    print(f"  families from the snapshot:            {build_s * 1000:8.1f} ms  ({series} samples)")
    print(f"  whole scrape (collect + encode):       {scrape_s * 1000:8.1f} ms")
    print(f"  response size:                         {size / 1e6:8.2f} MB ({size // series} bytes/sample)")
    print(f"  gzipped (as Prometheus requests it):   {len(gzip.compress(body)) / 1e6:8.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
