"""500 date-only articles of one day through Kafka, the tag step and the real Redis: no spike at midnight,
all of them in the 24-hour window (exporter and streams.top included); the same articles with a real
midnight minute fire the detector."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import redis.asyncio as aioredis
import yaml
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from streams.exporter.server import build_registry
from streams.model.alert import Alert
from streams.model.settings import Settings
from streams.store.client import RedisRetry
from streams.store.counts import RollingCounts
from streams.watchlist.compiled import compile_watchlist
from streams.worker.metrics import WorkerMetrics
from streams.worker.outbox import Outbox, Record
from streams.worker.spike_step import SpikeStep
from streams.worker.tag_step import TagStep
from tests.e2e.harness import ROOT, free_port

pytestmark = pytest.mark.integration
SEED = (ROOT / "ops/sample/seed/article-2016-10-22-carter-ankara.txt").read_text(encoding="utf-8")
SEED_TITLE = "كارتر يبحث بأنقرة التعاون ل «هزيمة داعش» واحتواء التوتر مع بغداد"
# One sentence of the seed with one الرقة: the background's steady trickle of raqqa mentions.
TRICKLE = SEED.split("اتفقت", 1)[1].split(". ", 1)[0]
SPIKE = {
    "id": "raqqa_burst", "entities": ["raqqa"], "window": "10m", "baseline": "1h", "min_count": 30,
    "ratio": 4, "min_sources": 3, "warmup": "1h", "cooldown": "10m", "webhooks": [],
}  # fmt: skip
DAY_ARTICLES = 500
SOURCES = ("alquds.co.uk", "aawsat.com", "alarabiya.net", "aljazeera.net", "bbc.com")


def background() -> list[dict[str, Any]]:
    """25 minute-precision articles, one every 10 minutes from 22:05 the day before to 02:05."""
    out = []
    for i in range(25):
        hour, minute = divmod(22 * 60 + 5 + 10 * i, 60)
        day = 19 + hour // 24
        stamp = f"2026-11-{day}T{hour % 24:02d}:{minute:02d}:00+00:00"
        out.append(
            {"id": f"bg{i}", "title": "", "body": TRICKLE, "source": SOURCES[i % 5], "published_at": stamp}
        )
    return out


def dated(precision: str | None) -> list[dict[str, Any]]:
    """The seed article, 500 times, dated 2026-11-20 only (or, for the contrast, exactly midnight)."""
    stamp = {"published_at": "2026-11-20T00:00:00+00:00"}
    if precision is not None:
        stamp["published_precision"] = precision
    return [
        {"id": f"day{i}", "title": SEED_TITLE, "body": SEED, "source": SOURCES[i % 5], **stamp}
        for i in range(DAY_ARTICLES)
    ]


@dataclass(slots=True)
class Consumed:
    """A consumed Kafka record in the shape the tag step reads (faust's Message)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float


def through_kafka(bootstrap: str, topic: str, articles: Sequence[dict[str, Any]]) -> list[Consumed]:
    """Publish the articles in order (keyed by id, as producers do) and read them back."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for article in articles:
        producer.send(topic, key=article["id"].encode(), value=orjson.dumps(article))
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000,
        group_id=None, enable_auto_commit=False,
    )  # fmt: skip
    records = []
    for m in consumer:
        records.append(Consumed(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp / 1000))
        if len(records) == len(articles):
            break
    consumer.close()
    return records


@pytest.fixture
async def prefix(stack_settings: Settings) -> AsyncIterator[str]:
    name = f"dayp{uuid.uuid4().hex[:8]}:"
    yield name
    client = redis.Redis.from_url(stack_settings.redis_url)
    keys = list(client.scan_iter(match=name + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


async def run_tag_step(
    settings: Settings, prefix: str, watchlist: Path, records: Sequence[Consumed]
) -> tuple[list[Alert], list[dict[str, Any]]]:
    """The worker's tag step over the records in batches of up to 100 of one published_at each (as a live
    stream brings them): its spike alerts and news.tagged values."""
    sent: dict[str, list[bytes]] = {"tagged": [], "alerts": [], "deadletter": []}

    async def send(kind: str, key: bytes | None, value: bytes) -> None:
        sent[kind].append(value)

    async def send_batch(kind: str, batch: Sequence[Record]) -> None:
        sent[kind] += [value for _, value, _ in batch]

    client = aioredis.from_url(settings.redis_url)
    outbox = Outbox(send, send_batch)
    compiled = compile_watchlist(watchlist)
    step = TagStep(
        compiled=lambda: compiled, counter=RollingCounts(client, prefix=prefix, partitions=1), outbox=outbox,
        metrics=WorkerMetrics(CollectorRegistry()), max_bytes=settings.max_article_bytes, retrying=RedisRetry(),
        spikes=SpikeStep(client, prefix, evidence_ttl=settings.bucket_ttl_seconds, publish=outbox.publish_alerts),
    )  # fmt: skip
    alerts: list[Alert] = []
    try:
        for chunk in batches(records):
            batch = await step.run(chunk)
            assert batch.dead == []
            alerts += batch.spike_alerts
    finally:
        await client.aclose()
    assert [Alert.model_validate_json(raw) for raw in sent["alerts"]] == alerts
    return alerts, [orjson.loads(raw) for raw in sent["tagged"]]


def batches(records: Sequence[Consumed], size: int = 100) -> list[list[Consumed]]:
    out: list[list[Consumed]] = []
    previous = None
    for record in records:
        stamp = orjson.loads(record.value or b"{}")["published_at"]
        if stamp != previous or len(out[-1]) == size:
            out.append([])
        out[-1].append(record)
        previous = stamp
    return out


def scrape(settings: Settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=build_registry(settings, top_n=3))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        thread.join(5)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def top_rows(settings: Settings, prefix: str, alerts_topic: str) -> list[list[str]]:
    """`streams.top --once`'s entity rows: rank, entity, 1h and 24h mentions."""
    env = {**os.environ, "NEWSMON_REDIS_PREFIX": prefix, "NEWSMON_TOPIC_ALERTS": alerts_topic,
           "NEWSMON_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "NEWSMON_REDIS_URL": settings.redis_url}  # fmt: skip
    cmd = [sys.executable, "-m", "streams.top", "--once", "--width", "120", "--interval", "0.1", "--top", "4",
           "--metrics-url", f"http://127.0.0.1:{free_port()}/metrics"]  # fmt: skip
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0] == "stream clock: 2026-11-20 02:05 UTC"
    return [[cell.strip() for cell in line.split("│")[1:5]] for line in lines if line.startswith("│ ")][:4]


@pytest.mark.parametrize("precision", ["day", None])
async def test_500_date_only_articles_raise_no_spike_at_midnight_and_count_in_the_day(
    stack_settings: Settings,
    prefix: str,
    tmp_path: Path,
    make_topic: Callable[..., str],
    precision: str | None,
) -> None:
    watchlist = yaml.safe_load((ROOT / "ops/watchlist.yaml").read_text(encoding="utf-8"))
    watchlist["spikes"] = [SPIKE]
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(watchlist, allow_unicode=True), encoding="utf-8")
    trickle = background()
    # In time order: the day's articles arrive at its start, between 23:55 and 00:05.
    articles = trickle[:11] + dated(precision) + trickle[11:]
    records = through_kafka(stack_settings.kafka_bootstrap, make_topic(partitions=1), articles)
    assert len(records) == len(articles)

    alerts, tagged = await run_tag_step(stack_settings, prefix, path, records)

    if precision == "day":
        assert alerts == []
        assert {t["id"] for t in tagged if t.get("event_precision") == "day"} == {
            f"day{i}" for i in range(500)
        }
    else:  # a real midnight minute: 3,000 raqqa mentions in one minute is the burst the detector is for
        got = [
            (a.status, a.starts_at.isoformat(), a.ends_at and a.ends_at.isoformat(), a.count) for a in alerts
        ]
        assert got == [  # fired by the tag step's first batch of the day's articles: 100 x 6 mentions
            ("firing", "2026-11-20T00:00:00+00:00", None, 600),
            ("resolved", "2026-11-20T00:00:00+00:00", "2026-11-20T00:10:00+00:00", 1),
        ]
        assert not [t for t in tagged if "event_precision" in t]
    # The counts at the stream clock (02:05): the seed names raqqa 6 times, the trickle once.
    settings = Settings(_env_file=None, redis_url=stack_settings.redis_url, redis_prefix=prefix,  # type: ignore[call-arg]
                        watchlist=path)  # fmt: skip
    got_metrics = scrape(settings)

    def window(entity: str, label: str) -> float:
        return got_metrics[("newsmon_entity_mentions_window", (("entity", entity), ("window", label)))]

    assert got_metrics[("newsmon_stream_clock_seconds", ())] == 1_795_140_300  # 2026-11-20T02:05Z
    assert [window("raqqa", w) for w in ("1m", "5m", "1h", "24h")] == [1, 1, 6, 500 * 6 + 25]
    assert window("pentagon", "24h") == 500 * 2 + 25
    assert got_metrics[("newsmon_entity_sources_window", (("entity", "raqqa"), ("window", "24h")))] == 5
    rows = top_rows(stack_settings, prefix, make_topic(partitions=1))
    assert rows == [
        ["1", "isis", "12", "4050"], ["2", "mosul", "6", "4025"], ["3", "carter", "6", "3025"],
        ["4", "raqqa", "6", "3025"],  # the hour: the trickle only; the day: the 500 articles too
    ]  # fmt: skip
