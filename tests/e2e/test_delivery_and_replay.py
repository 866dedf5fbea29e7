"""Issue-5 guarantees on the real stack: redelivery, receiver outage, --speedup backtest, hot reload."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from streams.watchlist.file import parse_watchlist
from tests.e2e.harness import Pipeline, lines_of, sample_articles, sample_expected
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import rule_hits

pytestmark = pytest.mark.e2e


def minute_of(article: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(article["published_at"]).timestamp()) // 60


def windows_of(
    articles: list[dict[str, Any]], expected: dict[str, Any], clock: int, window: int
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for article in articles:
        if clock - window < minute_of(article) <= clock:
            for entity, n in expected["articles"][article["id"]].items():
                counts[entity] = counts.get(entity, 0) + n
    return counts


def test_the_same_1000_articles_produced_twice_are_counted_once(pipeline: Pipeline) -> None:
    articles = sample_articles()[:1000]
    expected = sample_expected()
    pipeline.start_worker()
    for _ in range(2):
        pipeline.produce("replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of(articles))
    pipeline.wait(
        lambda: pipeline.metric("newsmon_articles_total", {"outcome": "duplicate"}) >= 1000,
        120,
        "both copies",
    )
    clock = max(minute_of(a) for a in articles)
    pipeline.wait(lambda: pipeline.clock_minute() == clock, 30, "clock settled")
    assert pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}) == 1000
    for window in (1, 5, 60, 1440):
        assert pipeline.window(window) == windows_of(articles, expected, clock, window)
    tagged = pipeline.read_topic(pipeline.settings.topic_tagged, 2000)
    assert len(tagged) == 2000 and len({m.key for m in tagged}) == 1000  # at-least-once, keyed by id


def test_alerts_wait_out_a_receiver_down_for_30_seconds(pipeline: Pipeline, receiver: Receiver) -> None:
    expected = sample_expected()
    hits = rule_hits(expected)
    articles = [a for a in sample_articles() if a["id"] in hits]
    receiver.down()
    pipeline.start_worker()
    pipeline.produce("replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of(articles))
    pipeline.wait(lambda: pipeline.metric("newsmon_webhook_deliveries_total", {"receiver": "e2e", "outcome": "retried"}) > 0,
                  30, "delivery retries")  # fmt: skip
    time.sleep(30)
    assert not receiver.deliveries
    receiver.up()
    pipeline.wait(lambda: len(receiver.deliveries) >= len(hits), 90, "all alerts after the receiver returned")
    time.sleep(2)
    assert {body["newsmon"]["evidence"][0]["article_id"] for body in receiver.bodies.values()} == hits
    assert all(count == 1 for count in receiver.deliveries.values()) and receiver.rejected == 0
    assert pipeline.metric(
        "newsmon_webhook_deliveries_total", {"receiver": "e2e", "outcome": "delivered"}
    ) == len(hits)
    assert pipeline.metric("newsmon_webhook_deliveries_total", {"receiver": "e2e", "outcome": "failed"}) == 0


def test_speedup_replay_backtests_the_spike_at_its_event_time(pipeline: Pipeline, receiver: Receiver) -> None:
    # Warm-up (1h) runs from the detector's first evaluation, once every partition has reported:
    # the replay starts 90 minutes before the burst.
    start, end = datetime(2026, 11, 21, 10, 30, tzinfo=UTC), datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
    articles = [a for a in sample_articles() if start <= datetime.fromisoformat(a["published_at"]) < end]
    pipeline.start_worker()
    began = time.monotonic()
    # 90 minutes of news at 600x: about 9 s, paced by published_at.
    pipeline.produce(
        "replay", "-", "--speedup", "600", "--no-progress", "--metrics-port", "0", stdin=lines_of(articles)
    )
    assert time.monotonic() - began >= 8.5
    pipeline.wait(lambda: len(receiver.by_kind("spike")) >= 1, 60, "the spike alert")
    firing = next(iter(receiver.by_kind("spike").values()))["newsmon"]
    assert (firing["status"], firing["entity"], firing["starts_at"], firing["count"]) == (
        "firing", "raqqa", "2026-11-21T12:02:00Z", 37,
    )  # fmt: skip


def test_watchlist_reload_on_sighup_and_rejects_an_invalid_file(pipeline: Pipeline) -> None:
    articles = sample_articles()
    first, second, third = articles[:300], articles[300:600], articles[600:900]
    pipeline.start_worker()
    pipeline.produce("replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of(first))
    pipeline.wait(
        lambda: pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}) >= 300, 60, "first part"
    )

    # A new entity for a word the synthetic filler uses; reloaded on SIGHUP without a restart.
    data = yaml.safe_load(pipeline.watchlist_path.read_text(encoding="utf-8"))
    data["entities"].append({"id": "police", "names": {"ar": ["الشرطة"], "en": ["police"]}})
    pipeline.watchlist_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    proc, _, _ = pipeline.workers["w1"]
    os.kill(proc.pid, signal.SIGHUP)
    pipeline.wait(
        lambda: pipeline.metric("newsmon_watchlist_reloads_total", {"outcome": "ok"}) >= 1, 20, "reload"
    )
    pipeline.produce("replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of(second))
    pipeline.wait(
        lambda: pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}) >= 600, 60, "second part"
    )
    matcher = parse_watchlist(data, "reloaded").matcher()
    police = sum(matcher.mentions(a["title"], a["body"]).get("police", 0) for a in second)
    assert police > 0
    assert pipeline.metric("newsmon_entity_mentions_total", {"entity": "police"}) == police

    # An invalid file (unknown entity in a rule) is rejected whole; the reloaded watchlist stays.
    data["rules"] = [{"id": "broken", "expr": "police AND nowhere"}]
    pipeline.watchlist_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    pipeline.wait(
        lambda: pipeline.metric("newsmon_watchlist_reloads_total", {"outcome": "error"}) >= 1, 20, "rejection"
    )
    pipeline.produce("replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of(third))
    pipeline.wait(
        lambda: pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}) >= 900, 60, "third part"
    )
    police += sum(matcher.mentions(a["title"], a["body"]).get("police", 0) for a in third)
    assert pipeline.metric("newsmon_entity_mentions_total", {"entity": "police"}) == police
    assert pipeline.metric("newsmon_watchlist_reloads_total", {"outcome": "ok"}) == 1
    _, _, log = pipeline.workers["w1"]
    assert "rules[0] (id 'broken')" in log.read_text(errors="replace")


def test_worker_metrics_pass_promtool(pipeline: Pipeline, promtool: str) -> None:
    pipeline.start_worker()
    pipeline.produce(
        "replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of(sample_articles()[:200])
    )
    pipeline.wait(
        lambda: pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}) >= 200, 60, "tagged"
    )
    _, port, _ = pipeline.workers["w1"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read()
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert b"newsmon_article_latency_seconds_bucket" in text
