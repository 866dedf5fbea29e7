"""Latency at a paced rate: produce → consume (floor), produce → news.tagged, produce → webhook receipt.

Run: .venv/bin/python tests/bench/latency.py [--rate 200] [--seconds 60] [--warmup 5] [--repeat 1]
        [--patches NAME,...] [--baseline DIR] [--profile test]   (method and results: docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from aiohttp import web

from tests.bench import common
from tests.e2e.receiver import Receiver

RULE = {"id": "carter_any", "expr": "carter", "severity": "info", "description": "bench: any Carter"}


class TimedReceiver(Receiver):
    """The e2e receiver, also noting when each rule alert's article arrived (first delivery only)."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.arrived: dict[str, float] = {}

    async def _handle(self, request: web.Request) -> web.Response:
        now = time.time()
        response = await super()._handle(request)
        webhook_id = request.headers.get("webhook-id", "")
        body = self.bodies.get(webhook_id)
        if body is not None and body["newsmon"]["kind"] == "rule":
            self.arrived.setdefault(body["newsmon"]["evidence"][0]["article_id"], now)
        return response


@dataclass
class Arrivals:
    """Wall-clock receipt per article id on one topic, from a background consumer thread."""

    topic: str
    bootstrap: str
    seen: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, group_id=None, auto_offset_reset="earliest",
            enable_auto_commit=False, fetch_max_wait_ms=5,
        )  # fmt: skip
        while not self.stop.is_set():
            for messages in consumer.poll(timeout_ms=100).values():
                now = time.time()
                for message in messages:
                    self.seen.setdefault(message.key.decode(), now)
        consumer.close()

    def start(self) -> Arrivals:
        threading.Thread(target=self.run, daemon=True).start()
        return self


def pace(bootstrap: str, topic: str, lines: list[bytes], rate: float) -> dict[str, float]:
    """Send at a steady rate (absolute schedule, no drift); returns send time per article id."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0, enable_idempotence=False)
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for i, line in enumerate(lines):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        key = orjson.loads(line)["id"]
        now = time.time()
        producer.send(topic, key=key.encode(), value=line, timestamp_ms=int(now * 1000))
        sent[key] = now
    producer.flush(60)
    producer.close()
    return sent


def rule_fraction(watchlist: Path, lines: list[bytes]) -> set[str]:
    """Ids of the articles the rule fires on (the same matcher the worker uses)."""
    from streams.watchlist.file import load_watchlist

    matcher = load_watchlist(watchlist).matcher()
    hits = set()
    for line in lines:
        article = orjson.loads(line)
        if "carter" in matcher.mentions(article["title"], article["body"]):
            hits.add(article["id"])
    return hits


def latencies(sent: dict[str, float], arrived: dict[str, float], measured: set[str]) -> list[float]:
    return [(arrived[k] - sent[k]) * 1000 for k in measured if k in arrived]


def row(name: str, values: list[float], expected: int) -> tuple[Any, ...]:
    pct = [common.percentile(values, q) for q in (50, 95, 99)]
    return (name, f"{len(values):,}/{expected:,}", *pct, max(values, default=float("nan")))


def measure(
    args: argparse.Namespace, redis_url: str, workdir: Path, patches: str = "", streams_from: str = ""
) -> list[tuple[Any, ...]]:
    env = common.use_stack(args.profile)
    bootstrap = env["NEWSMON_KAFKA_BOOTSTRAP"]
    total = int(args.rate * (args.seconds + args.warmup))
    lines = common.corpus_lines(total)
    receiver = TimedReceiver(common.SECRET)
    receiver.start()
    watchlist = common.write_watchlist(workdir / "watchlist.yaml", {"rules": [RULE]}, receiver.url)
    firing = rule_fraction(watchlist, lines)
    penv = common.pipeline_env(redis_url, watchlist)
    worker = common.start_worker(penv, workdir, patches=patches, streams_from=streams_from)
    source = Arrivals(penv["NEWSMON_TOPIC_ARTICLES"], bootstrap).start()
    tagged = Arrivals(penv["NEWSMON_TOPIC_TAGGED"], bootstrap).start()
    try:
        time.sleep(3)  # consumers assigned before the first message
        label = "worker" + (" (before)" if streams_from else "") + (f" + {patches}" if patches else "")
        print(f"{label}: pacing {total:,} articles at {args.rate:g}/s ({common.load()})", flush=True)
        sent = pace(bootstrap, penv["NEWSMON_TOPIC_ARTICLES"], lines, args.rate)
        common.wait_for(lambda: len(tagged.seen) >= total, 120, "every tagged message", every=0.2)
        common.wait_for(lambda: len(receiver.arrived) >= len(firing), 120, "every rule webhook", every=0.2)
        load_after = common.load()
    finally:
        source.stop.set()
        tagged.stop.set()
        worker.stop()
        receiver.stop()
        common.delete_topics(bootstrap, common.pipeline_topics(penv))
        common.drop_redis_prefix(redis_url, penv["NEWSMON_REDIS_PREFIX"])
    rows = report(args, lines, sent, (source.seen, tagged.seen, receiver.arrived), firing, load_after)
    print(f"({label})")
    return [(label, load_after.split(" on ")[0], *r) for r in rows]


def report(
    args: argparse.Namespace,
    lines: list[bytes],
    sent: dict[str, float],
    seen: tuple[dict[str, float], dict[str, float], dict[str, float]],
    firing: set[str],
    load_after: str,
) -> list[tuple[Any, ...]]:
    skip = int(args.rate * args.warmup)
    measured = {orjson.loads(line)["id"] for line in lines[skip:]}
    fired = measured & firing
    source, tagged, hooks = seen
    print(f"\n{args.rate:g} articles/s for {args.seconds:g}s after {args.warmup:g}s warm-up; {load_after}")
    print(f"rule `carter` fires on {len(firing) / len(lines):.1%} of articles ({len(fired):,} measured)")
    rows = [
        row("floor: produce → source topic consumer", latencies(sent, source, measured), len(measured)),
        row("produce → news.tagged consumer", latencies(sent, tagged, measured), len(measured)),
        row("produce → webhook receipt (rule alert)", latencies(sent, hooks, fired), len(fired)),
    ]
    print(common.table(["path", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured span")
    parser.add_argument("--warmup", type=float, default=5.0, help="paced but not measured, first")
    parser.add_argument("--profile", default="test", help="ops/local/stack.py profile whose Kafka to use")
    parser.add_argument("--patches", default="", help="also measure a worker with these common.PATCHES")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (variants alternate within a round)")
    parser.add_argument(
        "--baseline", default="", help="also measure a worker with the `streams` package in DIR"
    )
    args = parser.parse_args()
    summary: list[tuple[Any, ...]] = []
    with common.private_redis() as redis_url, tempfile.TemporaryDirectory(prefix="newsmon-bench-") as tmp:
        for _ in range(args.repeat):
            variants = (
                [("", "")]
                + [("", args.baseline)] * bool(args.baseline)
                + [(args.patches, "")] * bool(args.patches)
            )
            for patches, streams_from in variants:
                summary += measure(args, redis_url, Path(tmp), patches, streams_from)
    print("\nall passes")
    print(
        common.table(["worker", "load after", "path", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"], summary)
    )


if __name__ == "__main__":
    main()
