"""Every producer against the real broker (and Redis): messages read back with the right keys and fields."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from pathlib import Path

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from producers.dedupe import RedisSeenStore
from producers.feeds import parse_feed_list
from producers.files import ingest_paths, iter_input_files
from producers.ids import article_id
from producers.ingest import make_app
from producers.intake import Intake
from producers.metrics import ProducerMetrics
from producers.poller import FeedPoller, PollOptions
from producers.publisher import KafkaPublisher
from streams.model.settings import Settings
from streams.store.keys import RedisKeys
from streams.worker.kafka import kafka_python_options

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SEED_DIR = ROOT / "ops" / "sample" / "seed"  # a copy of ../shared/seed, so a clone is self-contained
SAMPLE = ROOT / "ops" / "sample" / "articles.jsonl"
FEEDS = ROOT / "tests" / "fixtures" / "feeds"
SEED_TITLE = "كارتر يبحث بأنقرة التعاون ل «هزيمة داعش» واحتواء التوتر مع بغداد"

MakeTopic = Callable[..., str]


def read_topic(
    settings: Settings, topic: str, expected: int, timeout_s: float = 60
) -> list[tuple[bytes, dict]]:
    """(key, value) of every message of a topic, once ``expected`` have arrived (or the timeout)."""
    consumer = KafkaConsumer(
        **kafka_python_options(settings), enable_auto_commit=False, consumer_timeout_ms=1000
    )
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    messages: list[tuple[bytes, dict]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
                messages += [(m.key, orjson.loads(m.value)) for m in batch]
    finally:
        consumer.close()
    return messages


def publisher(settings: Settings, topic: str, command: str) -> tuple[KafkaPublisher, ProducerMetrics]:
    metrics = ProducerMetrics(CollectorRegistry())
    return KafkaPublisher(settings, metrics, command, topic=topic), metrics


def test_files_producer_publishes_the_seed(stack_settings: Settings, make_topic: MakeTopic) -> None:
    topic = make_topic(partitions=8)
    sink, metrics = publisher(stack_settings, topic, "files")
    intake = Intake(sink, metrics, "seed")
    ingest_paths(intake, iter_input_files(SEED_DIR), UTC, lambda: False)
    sink.close()
    [(key, value)] = read_topic(stack_settings, topic, 1)
    assert key == value["id"].encode() and len(value["id"]) == 64
    assert value["title"] == SEED_TITLE and value["source"] == "seed"
    assert value["published_at"].startswith("2016-10-22") and value["body"].endswith("(وكالات)")
    assert (
        metrics.registry.get_sample_value("newsmon_producer_articles_published_total", {"command": "files"})
        == 1
    )
    assert metrics.registry.get_sample_value("newsmon_producer_send_latency_seconds_count") == 1


def test_replay_of_the_sample_yields_exactly_one_message_per_article(
    stack_settings: Settings, make_topic: MakeTopic
) -> None:
    topic = make_topic(partitions=8)
    env = {
        **os.environ,
        "NEWSMON_KAFKA_BOOTSTRAP": stack_settings.kafka_bootstrap,
        "PYTHONWARNINGS": "ignore",
    }
    command = [sys.executable, "-m", "producers", "replay", str(SAMPLE), "--topic", topic]
    started = time.monotonic()
    result = subprocess.run(
        [*command, "--no-progress", "--metrics-port", "0"],
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]
    expected_ids = {orjson.loads(line)["id"] for line in SAMPLE.read_bytes().splitlines()}
    assert len(expected_ids) == 10_000
    messages = read_topic(stack_settings, topic, len(expected_ids), timeout_s=120)
    assert len(messages) == 10_000
    assert {key.decode() for key, _ in messages} == expected_ids
    assert all(key.decode() == value["id"] for key, value in messages)
    print(f"replay: 10,000 articles in {elapsed:.1f}s ({10_000 / elapsed:.0f}/s including startup)")


def make_feed_app() -> web.Application:
    async def serve(request: web.Request) -> web.Response:
        body = (FEEDS / request.match_info["name"]).read_bytes()
        return web.Response(body=body, content_type="application/xml")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    return app


@pytest.fixture
async def feed_base() -> AsyncIterator[str]:
    runner = web.AppRunner(make_feed_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_rss_producer_publishes_once_across_restarts(
    stack_settings: Settings, make_topic: MakeTopic, feed_base: str
) -> None:
    topic = make_topic(partitions=8)
    feed_list = f"{feed_base}/rss-ar.xml\n{feed_base}/atom-en.xml\n{feed_base}/malformed.xml\n"
    urls = [
        "http://news.test/ar/1",
        "http://news.test/ar/2",
        "http://news.test/en/1",
        "http://news.test/en/2",
    ]
    ids = {article_id(url, "", "") for url in urls}
    client = aioredis.from_url(stack_settings.redis_url)
    keys = RedisKeys(stack_settings.redis_prefix)
    await client.delete(*(keys.published(i) for i in ids))
    sink, metrics = publisher(stack_settings, topic, "rss")
    try:
        for _restart in range(2):  # a second poller instance = the producer restarted
            poller = FeedPoller(
                parse_feed_list(feed_list),
                Intake(sink, metrics),
                RedisSeenStore(client, keys, ttl_s=600),
                PollOptions(timeout_s=5),
            )
            async with aiohttp.ClientSession() as session:
                await poller.poll_all_once(session)
            assert poller.failed_polls == 1  # malformed.xml, reported, not fatal
        sink.close()
        messages = read_topic(stack_settings, topic, 4)
        assert {key.decode() for key, _ in messages} == ids and len(messages) == 4
        by_url = {value["url"]: value for _, value in messages}
        assert by_url["http://news.test/en/1#comments"]["title"] == "Erdogan & Carter meet in Ankara"
        assert metrics.registry.get_sample_value("newsmon_producer_articles_deduplicated_total") == 4
        ttls = [await client.ttl(keys.published(i)) for i in ids]
        assert all(0 < ttl <= 600 for ttl in ttls)
    finally:
        await client.delete(*(keys.published(i) for i in ids))
        await client.aclose()


async def test_http_ingest_publishes_json_lines(stack_settings: Settings, make_topic: MakeTopic) -> None:
    topic = make_topic(partitions=8)
    sink, metrics = publisher(stack_settings, topic, "http")
    app = make_app(Intake(sink, metrics, default_source="http"), stack_settings.max_article_bytes)
    lines = b"\n".join(
        orjson.dumps(
            {"url": f"https://example.com/{n}", "title": f"عنوان {n}", "body": "بغداد", "lang": "ar"}
        )
        for n in range(5)
    )
    async with TestClient(TestServer(app)) as client:
        response = await client.post(
            "/articles", data=lines, headers={"Content-Type": "application/x-ndjson"}
        )
        assert response.status == 202
        ids = (await response.json())["ids"]
        bad = await client.post(
            "/articles", data=b'{"title": ""}', headers={"Content-Type": "application/json"}
        )
        assert bad.status == 400
    sink.close()
    messages = read_topic(stack_settings, topic, 5)
    assert [key.decode() for key, _ in sorted(messages, key=lambda m: m[1]["title"])] == ids
    assert {value["source"] for _, value in messages} == {"http"}
