"""`python -m streams.top --once` on the real Redis (private prefix), a real alerts topic, fake worker metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
import redis
import redis.asyncio as aioredis
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry, start_http_server

from streams.model.alert import Alert
from streams.model.settings import Settings
from streams.store.counts import RollingCounts, StoryRequest, Tally
from streams.stories.sketch import DEFAULT_PARAMS, sketch
from streams.stories.wire import StoryItem, story_items, story_spec
from streams.worker.metrics import WorkerMetrics
from tests.e2e.harness import ROOT, free_port

pytestmark = pytest.mark.integration
CLOCK = 29_000_000  # 2025-02-19 21:20 UTC
E2E_INPUT = ROOT / "tests" / "fixtures" / "stories" / "e2e-input.jsonl"


@pytest.fixture
async def prefix(stack_settings: Settings) -> AsyncIterator[str]:
    name = f"top{uuid.uuid4().hex[:10]}:"
    client = aioredis.from_url(stack_settings.redis_url)
    counter = RollingCounts(client, prefix=name, partitions=1)
    # a2 and a3 are copies of one story (the seed and a copy): raqqa is in 2 stories, isis in 1.
    seed, copy = (json.loads(line)["body"] for line in E2E_INPUT.read_text(encoding="utf-8").splitlines()[:2])
    bodies = {"a1": "", "a2": seed, "a3": copy, "a4": ""}
    items, blob = story_items([StoryItem(a, sketch(body)) for a, body in bodies.items()])
    stories = StoryRequest(story_spec(DEFAULT_PARAMS, 3 * 86400, time.time()), items, blob)
    await counter.record([
        Tally("a1", CLOCK - 3, "s1", {"raqqa": 1}),
        Tally("a2", CLOCK - 1, "s1", {"raqqa": 2, "isis": 1}),
        Tally("a3", CLOCK, "s2", {"raqqa": 4}),
        Tally("a4", CLOCK - 90, "s2", {"mosul": 5}),  # outside the hour: listed last, by its 24 hours
    ], stories=stories)  # fmt: skip
    await client.aclose()
    yield name
    sync = redis.Redis.from_url(stack_settings.redis_url)
    sync.delete(*sync.scan_iter(match=name + "*", count=1000))
    sync.close()


def alert(rule: str, minute: int, count: int) -> Alert:
    return Alert(id=f"{rule}-{minute}", kind="spike", status="firing", rule_id=rule, entity="raqqa",
                 severity="critical", starts_at=datetime.fromtimestamp(minute * 60, UTC), count=count)  # fmt: skip


def test_once_prints_top_entities_alerts_and_rates(
    stack_settings: Settings, prefix: str, make_topic: Callable[..., str]
) -> None:
    topic = make_topic(partitions=2)
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap)
    for i, item in enumerate([alert("old", CLOCK - 30, 3), alert("burst", CLOCK, 7)]):
        producer.send(
            topic, key=item.id.encode(), value=item.to_json(), partition=i % 2, timestamp_ms=1000 + i
        )
    producer.flush()
    producer.close()
    metrics = WorkerMetrics(CollectorRegistry())
    metrics.articles.labels("tagged").inc(42)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    env = {**os.environ, "NEWSMON_REDIS_PREFIX": prefix, "NEWSMON_TOPIC_ALERTS": topic,
           "NEWSMON_KAFKA_BOOTSTRAP": stack_settings.kafka_bootstrap, "NEWSMON_REDIS_URL": stack_settings.redis_url}  # fmt: skip
    cmd = [sys.executable, "-m", "streams.top", "--once", "--width", "120", "--interval", "0.2", "--alerts", "5",
           "--metrics-url", f"http://127.0.0.1:{port}/metrics"]  # fmt: skip
    try:
        result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        thread.join(5)
    assert result.returncode == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0] == "stream clock: 2025-02-19 21:20 UTC"
    rows = [line for line in lines if line.startswith("│ ") and "│ 1h" not in line]
    assert rows[0] == "│ 1 │ raqqa  │  7 │   7 │       2 │" + " " * 57 + "▂ ▄█ │"
    assert rows[1] == "│ 2 │ isis   │  1 │   1 │       1 │" + " " * 59 + "█  │"
    assert rows[2] == "│ 3 │ mosul  │  0 │   5 │       0 │" + " " * 62 + "│"
    assert rows[3] == "│ 2025-02-19 21:20 │ spike │ firing │ burst │ raqqa  │ critical │ 7     │"
    assert rows[4] == "│ 2025-02-19 20:50 │ spike │ firing │ old   │ raqqa  │ critical │ 3     │"
    assert "│ articles      │ tagged     │    42 │        0.0 │" in rows
    assert not [line for line in lines if line.startswith("unavailable")]
