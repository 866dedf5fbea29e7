"""Resource cost: worker RSS by watchlist size; Redis commands and round trips per article and per batch.

Run: .venv/bin/python tests/bench/cost.py [--articles 20000] [--names 10,1000,10000] [--profile test]
     .venv/bin/python tests/bench/cost.py --primary-only   (one Redis primary's capacity: no Kafka, no worker)
        (method and results: docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import psutil
import redis
import yaml

from tests.bench import common, pipeline, redis_primary

IDLE = 5.0
REDIS_RUNS: dict[str, dict[str, Any]] = {
    "ops/watchlist.yaml + bench rules, no spike detector": {"rules": pipeline.RULES},
    "ops/watchlist.yaml + bench rules + spike detector": {
        "rules": pipeline.RULES,
        "spikes": [pipeline.SPIKE],
    },
}
AR_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
EN_LETTERS = "bcdfghjklmnprstvz"
EN_VOWELS = "aeiou"


def arabic_name(rng: random.Random) -> str:
    return " ".join("".join(rng.choice(AR_LETTERS) for _ in range(rng.randint(4, 7))) for _ in range(2))


def english_name(rng: random.Random) -> str:
    def word() -> str:
        return "".join(rng.choice(EN_LETTERS) + rng.choice(EN_VOWELS) for _ in range(rng.randint(2, 4)))

    return " ".join(word().capitalize() for _ in range(2))


def synthetic_watchlist(path: Path, names: int, seed: int = 7) -> Path:
    """`names` unique synthetic names: entity k has one Arabic and one English name (10 → 5 entities)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    entities: list[dict[str, Any]] = []
    while len(seen) < names:
        ar, en = arabic_name(rng), english_name(rng)
        if ar in seen or en in seen:
            continue
        seen |= {ar, en}
        entities.append({"id": f"e{len(entities):05d}", "names": {"ar": [ar], "en": [en]}})
    path.write_text(yaml.safe_dump({"entities": entities}, allow_unicode=True), encoding="utf-8")
    return path


class PeakRss:
    """Samples a process's RSS every 0.1 s in a thread; `peak` in MB."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0.0
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def now(self) -> float:
        return float(self.process.memory_info().rss) / 2**20

    def sample(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, self.now())
            except psutil.Error:
                return
            time.sleep(0.1)

    def stop(self) -> float:
        self.running = False
        self.thread.join(2)
        return self.peak


def commandstats(client: redis.Redis) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in client.info("commandstats").items()}


def batches(worker: common.Worker) -> float:
    return worker.metric("newsmon_batch_processing_seconds_count")


def replay(setup: dict[str, Any], watchlist: Path, workdir: Path) -> dict[str, Any]:
    """One worker on its own empty topic; snapshots, then the corpus is produced to it; returns costs."""
    env = common.pipeline_env(setup["redis"], watchlist)
    env["NEWSMON_BENCH_ROUND_TRIPS"] = str(workdir / f"round-trips-{watchlist.stem}.txt")
    client = redis.Redis.from_url(setup["redis"])
    worker = common.start_worker(env, workdir, patches="count_redis")
    try:
        time.sleep(3)
        rss = PeakRss(worker.proc.pid)
        ready, idle_trips = rss.now(), read_trips(env)
        time.sleep(IDLE)  # the timers' own round trips (clock tick every 1 s), subtracted below
        idle_rate = (read_trips(env) - idle_trips) / IDLE
        before, trips_before, batches_before = commandstats(client), read_trips(env), batches(worker)
        started = time.monotonic()
        common.fill_topic(setup["bootstrap"], env["NEWSMON_TOPIC_ARTICLES"], setup["lines"])
        common.wait_for(lambda: worker.tagged() >= len(setup["lines"]), 1800, "replay", every=0.2)
        time.sleep(1.5)  # the round-trip file is rewritten every 0.5 s
        after, trips = commandstats(client), read_trips(env) - trips_before
        ticks = idle_rate * (time.monotonic() - started)
        calls = {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
        calls.pop("info", None)  # our own snapshots
        return {
            "ready": ready, "peak": rss.stop(), "calls": calls, "trips": trips, "ticks": ticks,
            "batches": batches(worker) - batches_before,
        }  # fmt: skip
    finally:
        worker.stop()
        client.close()
        common.delete_topics(setup["bootstrap"], common.pipeline_topics(env))
        common.drop_redis_prefix(setup["redis"], env["NEWSMON_REDIS_PREFIX"])


def read_trips(env: dict[str, str]) -> int:
    path = Path(env["NEWSMON_BENCH_ROUND_TRIPS"])
    return int(path.read_text() or 0) if path.exists() else 0


def report(n: int, sizes: list[tuple[int, dict[str, Any]]], redis_runs: dict[str, dict[str, Any]]) -> None:
    print(f"\n{n:,} articles replayed per run; {common.load()}")
    rows = [(names, r["ready"], r["peak"]) for names, r in sizes]
    print(common.table(["watchlist names", "RSS ready MB", "RSS peak during replay MB"], rows))
    for label, redis_run in redis_runs.items():
        report_redis(n, label, redis_run)


def report_redis(n: int, label: str, redis_run: dict[str, Any]) -> None:
    per_batch = max(1.0, redis_run["batches"])
    print(f"\nRedis per article and per batch ({label}; {redis_run['batches']:,.0f} batches):")
    calls = sorted(redis_run["calls"].items(), key=lambda kv: -kv[1])
    rows2 = [(name, count, count / n, count / per_batch) for name, count in calls]
    total = sum(redis_run["calls"].values())
    rows2.append(("all commands (incl. inside Lua)", total, total / n, total / per_batch))
    trips, ticks = redis_run["trips"], redis_run["ticks"]
    rows2.append(("client round trips (redis-py sends)", trips, trips / n, trips / per_batch))
    rows2.append(("  of which timer ticks (idle rate × time)", round(ticks), ticks / n, ticks / per_batch))
    rest = trips - ticks
    rows2.append(("  round trips of the batches themselves", round(rest), rest / n, rest / per_batch))
    print(common.table(["command", "calls", "per article", "per batch"], rows2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--names", default="10,1000,10000")
    parser.add_argument("--profile", default="test", help="ops/local/stack.py profile whose Kafka to use")
    parser.add_argument("--primary-only", action="store_true", help="only the Redis primary's capacity")
    args = parser.parse_args()
    lines = common.corpus_lines(args.articles)
    if args.primary_only:
        with common.private_redis() as redis_url:
            redis_primary.report(redis_primary.capacity(redis_url, lines))
        return
    env = common.use_stack(args.profile)
    setup: dict[str, Any] = {"bootstrap": env["NEWSMON_KAFKA_BOOTSTRAP"], "lines": lines}
    with common.private_redis() as redis_url, tempfile.TemporaryDirectory(prefix="newsmon-bench-") as tmp:
        setup["redis"], workdir = redis_url, Path(tmp)
        sizes = []
        for names in (int(n) for n in args.names.split(",")):
            sizes.append(
                (names, replay(setup, synthetic_watchlist(workdir / f"names-{names}.yaml", names), workdir))
            )
            print(
                f"  {names:>6,} names: RSS peak {sizes[-1][1]['peak']:.0f} MB ({common.load()})", flush=True
            )
        redis_runs: dict[str, dict[str, Any]] = {}
        for label, extra in REDIS_RUNS.items():
            watchlist = common.write_watchlist(workdir / f"ops-{len(redis_runs)}.yaml", extra)
            redis_runs[label] = replay(setup, watchlist, workdir)
        report(len(lines), sizes, redis_runs)
        redis_primary.report(redis_primary.capacity(redis_url, lines))


if __name__ == "__main__":
    main()
