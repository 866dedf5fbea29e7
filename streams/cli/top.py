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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from streams.model.alert import Alert
from streams.model.minutes import to_seconds
from streams.model.settings import Settings, get_settings
from streams.model.snapshot import top_entities
from streams.store.snapshot import read_snapshot
from streams.worker.kafka import kafka_python_options

SPARK = "▁▂▃▄▅▆▇█"
HOUR = 60  # minutes of history behind each sparkline
Counters = dict[tuple[str, str], float]  # (metric family, label value) -> summed value


# --- pure: shaping the numbers -------------------------------------------------------------------------


def sparkline(values: Sequence[int]) -> str:
    """One block character per value, scaled to the largest; a blank for zero so silence is visible."""
    peak = max(values, default=0)
    if peak <= 0:
        return " " * len(values)
    return "".join(
        " " if v <= 0 else SPARK[min(len(SPARK) - 1, (v * len(SPARK) - 1) // peak)] for v in values
    )


def minute_series(
    minutes: Mapping[int, Mapping[str, int]], entity: str, clock: int, span: int = HOUR
) -> list[int]:
    """Mentions of `entity` in each of the `span` minutes ending at the clock, oldest first."""
    return [minutes.get(m, {}).get(entity, 0) for m in range(clock - span + 1, clock + 1)]


@dataclass(frozen=True, slots=True)
class EntityRow:
    entity: str
    mentions: int
    series: list[int]


def entity_rows(
    hour: Mapping[str, int], minutes: Mapping[int, Mapping[str, int]], clock: int, n: int
) -> list[EntityRow]:
    return [EntityRow(e, c, minute_series(minutes, e, clock)) for e, c in top_entities(hour, hour.keys(), n)]


# The counters the rates table shows: (metric family as the parser names it, the label that splits it).
WATCHED = {
    "newsmon_articles": "outcome",
    "newsmon_alerts_raised": "kind",
    "newsmon_webhook_deliveries": "outcome",
}
LAG = "newsmon_consumer_lag_messages"


def parse_counters(text: str) -> Counters:
    """Sum the watched counters (and the lag gauge) by their splitting label over every series."""
    out: Counters = {}
    for family in text_string_to_metric_families(text):
        label = WATCHED.get(family.name)
        for sample in family.samples:
            if label is not None and sample.name == family.name + "_total":
                key = (family.name, sample.labels.get(label, ""))
            elif family.name == LAG:
                key = (LAG, "")
            else:
                continue
            out[key] = out.get(key, 0.0) + sample.value
    return out


def add_counters(readings: Iterable[Counters]) -> Counters:
    total: Counters = {}
    for reading in readings:
        for key, value in reading.items():
            total[key] = total.get(key, 0.0) + value
    return total


def per_second(before: Counters, after: Counters, seconds: float) -> dict[tuple[str, str], float]:
    """Counter increase per second between two readings (a restart that resets a counter counts from 0)."""
    rates = {}
    for key, value in after.items():
        if key[0] == LAG:
            continue
        previous = before.get(key, 0.0)
        rates[key] = (value - previous if value >= previous else value) / seconds
    return rates


# --- pure: rendering ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything one screen shows; `problems` lists sources that could not be read."""

    clock_minute: int
    entities: list[EntityRow]
    alerts: list[Alert]
    totals: Counters
    rates: dict[tuple[str, str], float]
    problems: list[str] = field(default_factory=list)


def clock_text(clock_minute: int) -> str:
    if clock_minute < 0:
        return "stream clock: nothing counted yet"
    return "stream clock: " + datetime.fromtimestamp(to_seconds(clock_minute), UTC).strftime(
        "%Y-%m-%d %H:%M UTC"
    )


def entities_table(rows: list[EntityRow]) -> Table:
    table = Table(title="Top entities, last hour of stream time", title_justify="left", expand=False)
    table.add_column("#", justify="right")
    table.add_column("entity")
    table.add_column("1h", justify="right")
    table.add_column("per minute, last 60 min", no_wrap=True)
    for rank, row in enumerate(rows, start=1):
        table.add_row(str(rank), row.entity, str(row.mentions), sparkline(row.series))
    return table


def alerts_table(alerts: list[Alert]) -> Table:
    table = Table(title="Latest alerts", title_justify="left")
    for column in ("starts at (UTC)", "kind", "status", "rule", "entity", "severity", "count"):
        table.add_column(column)
    for alert in alerts:
        table.add_row(
            alert.starts_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), alert.kind, alert.status, alert.rule_id,
            alert.entity or "", alert.severity, "" if alert.count is None else str(alert.count),
        )  # fmt: skip
    return table


def rates_table(totals: Counters, rates: dict[tuple[str, str], float]) -> Table:
    table = Table(title="Pipeline (workers' /metrics)", title_justify="left")
    for column in ("counter", "label", "total", "per second"):
        table.add_column(column, justify="right" if column in ("total", "per second") else "left")
    for (name, label), total in sorted(totals.items()):
        rate = rates.get((name, label))
        shown = "" if rate is None else f"{rate:.1f}"
        table.add_row(name.removeprefix("newsmon_"), label, f"{total:.0f}", shown)
    return table


def render(frame: Frame) -> Group:
    parts: list[Text | Table] = [Text(clock_text(frame.clock_minute), style="bold")]
    parts += [
        entities_table(frame.entities),
        alerts_table(frame.alerts),
        rates_table(frame.totals, frame.rates),
    ]
    parts += [Text(f"unavailable: {problem}", style="red") for problem in frame.problems]
    return Group(*parts)


# --- I/O: reading the sources ---------------------------------------------------------------------------


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
            snapshot = read_snapshot(self.client, self.settings.redis_prefix, HOUR, windows=(HOUR,))
            clock = snapshot.clock_minute
            rows = entity_rows(snapshot.windows[HOUR], snapshot.minutes, clock, self.args.top)
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


# --- command line --------------------------------------------------------------------------------------


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
