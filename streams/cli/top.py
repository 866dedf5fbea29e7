"""Live terminal view of newsmon: top entities with hourly sparklines, latest alerts, pipeline rates.

    python -m streams.top [--once] [--top 15] [--alerts 8] [--interval 2] [--metrics-url URL ...]

Top entities and their sparklines come from Redis (the 1-hour window and the last 60 per-minute
buckets, in stream time); the latest alerts are the tail of the alerts topic (Kafka); rates come from
the workers' /metrics (two readings, --interval apart).
"""

from __future__ import annotations

import argparse
import time
import urllib.request
from collections.abc import Sequence

import redis
from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live

from streams.cli.top_frame import (
    DAY,
    HOUR,
    Counters,
    Frame,
    add_counters,
    entity_rows,
    parse_counters,
    per_second,
    render,
)
from streams.model.alert import Alert
from streams.model.settings import Settings, get_settings
from streams.store.snapshot import read_snapshot
from streams.worker.kafka import kafka_python_options


def read_metrics(urls: Sequence[str], problems: list[str]) -> Counters:
    readings = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                readings.append(parse_counters(response.read().decode()))
        except OSError as err:
            problems.append(f"worker metrics {url} ({err})")
    return add_counters(readings)


def latest_alerts(settings: Settings, count: int, problems: list[str]) -> list[Alert]:
    """The newest `count` alerts of the alerts topic, newest first (reads at most `count` per partition)."""
    if count <= 0:
        return []
    try:
        # No group (nothing committed) and no auto-creation: a viewer must leave no trace on the broker.
        consumer = KafkaConsumer(**kafka_python_options(settings), enable_auto_commit=False, group_id=None,
                                 consumer_timeout_ms=1000, request_timeout_ms=5000,
                                 allow_auto_create_topics=False)  # fmt: skip
    except Exception as err:  # kafka-python raises several unrelated types when the broker is away
        problems.append(f"alerts topic {settings.topic_alerts} ({err})")
        return []
    try:
        return tail(consumer, settings.topic_alerts, count)
    finally:
        consumer.close()


def tail(consumer: KafkaConsumer, topic: str, count: int) -> list[Alert]:
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if not partitions:
        return []
    consumer.assign(partitions)
    ends = consumer.end_offsets(partitions)
    if not any(ends.values()):
        return []  # nothing to wait for
    for tp in partitions:
        consumer.seek(tp, max(0, ends[tp] - count))
    alerts: list[tuple[int, Alert]] = []
    for message in consumer:
        try:
            alerts.append((message.timestamp, Alert.from_json(message.value)))
        except ValidationError:
            continue  # not an alert: the view shows what it can
        if all(consumer.position(tp) >= ends[tp] for tp in partitions):
            break
    alerts.sort(key=lambda pair: (pair[0], pair[1].starts_at), reverse=True)
    return [alert for _, alert in alerts[:count]]


class Sources:
    """Where a frame comes from; keeps the previous metrics reading so rates need no extra wait."""

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings = settings
        self.args = args
        self.client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.read_redis_timeout_seconds,
            socket_connect_timeout=settings.read_redis_timeout_seconds,
        )
        self.previous: tuple[float, Counters] | None = None

    def frame(self) -> Frame:
        problems: list[str] = []
        clock, rows = -1, []
        try:
            snapshot = read_snapshot(self.client, self.settings.redis_prefix, HOUR, windows=(HOUR, DAY))
            clock = snapshot.clock_minute
            hour, day = snapshot.windows[HOUR], snapshot.windows[DAY]
            rows = entity_rows(hour, snapshot.minutes, clock, self.args.top, day, snapshot.stories.get(HOUR))
        except redis.RedisError as err:
            problems.append(f"Redis {self.settings.redis_url} ({err})")
        alerts = latest_alerts(self.settings, self.args.alerts, problems)
        totals, rates = self._rates(problems)
        return Frame(clock, rows, alerts, totals, rates, problems)

    def _rates(self, problems: list[str]) -> tuple[Counters, dict[tuple[str, str], float]]:
        if self.previous is None:
            self.previous = (time.monotonic(), read_metrics(self.args.metrics_url, []))
            time.sleep(self.args.interval)
        now, totals = time.monotonic(), read_metrics(self.args.metrics_url, problems)
        began, before = self.previous
        self.previous = (now, totals)
        return totals, per_second(before, totals, max(now - began, 1e-9))


def parse_args(argv: Sequence[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m streams.top", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="print one frame to stdout and exit")
    parser.add_argument("--top", type=int, default=15, help="entities shown (default 15)")
    parser.add_argument("--alerts", type=int, default=8, help="latest alerts shown (default 8)")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between frames (and rate readings)"
    )
    parser.add_argument("--metrics-url", action="append", default=None,
                        help=f"a worker's /metrics (repeatable; default http://127.0.0.1:{settings.worker_web_port}/metrics)")  # fmt: skip
    parser.add_argument("--width", type=int, default=None, help="terminal width for --once (default: detect)")
    args = parser.parse_args(argv)
    args.metrics_url = args.metrics_url or [f"http://127.0.0.1:{settings.worker_web_port}/metrics"]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    args = parse_args(argv, settings)
    sources = Sources(settings, args)
    if args.once:
        Console(width=args.width).print(render(sources.frame()))
        return 0
    with Live(render(sources.frame()), refresh_per_second=4, screen=True) as live:
        try:
            while True:
                time.sleep(args.interval)
                live.update(render(sources.frame()))
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
