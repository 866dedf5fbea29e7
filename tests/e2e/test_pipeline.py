"""The whole pipeline: producer → Kafka → worker → Redis and alerts → signed webhooks, exact counts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.harness import (
    SAMPLE,
    Pipeline,
    base_watchlist,
    expected_window,
    sample_articles,
    sample_expected,
)
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e


def minute_of_iso(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp()) // 60


def entity_of_name() -> dict[str, str]:
    watchlist = base_watchlist()
    return {name: e["id"] for e in watchlist["entities"] for names in e["names"].values() for name in names}


def rule_hits(expected: dict[str, Any]) -> set[str]:
    return {
        aid for aid, mentions in expected["articles"].items() if "carter" in mentions and "raqqa" in mentions
    }


def test_sample_replay_exact_counts_alerts_once_and_signed(pipeline: Pipeline, receiver: Receiver) -> None:
    articles = sample_articles()
    expected = sample_expected()
    pipeline.start_worker()
    pipeline.produce("replay", str(SAMPLE / "articles.jsonl"), "--no-progress", "--metrics-port", "0")
    pipeline.wait(lambda: pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}) >= len(articles), 240,
                  "all sample articles tagged")  # fmt: skip

    # Counts: every window equals the known counts at the final stream clock, exactly.
    clock = max(minute_of_iso(a["published_at"]) for a in articles)
    # The clock is a watermark: it reaches the newest minute once every partition has (or went idle).
    pipeline.wait(lambda: pipeline.clock_minute() == clock, 30, "the stream clock to reach the last minute")
    for window in (1, 5, 60, 1440):
        assert pipeline.window(window) == expected_window(expected["per_minute"], clock, window), window
    assert pipeline.metric("newsmon_articles_total", {"outcome": "duplicate"}) == 0
    assert pipeline.metric("newsmon_articles_total", {"outcome": "deadletter"}) == 0
    for entity, total in expected["totals"].items():
        assert pipeline.metric("newsmon_entity_mentions_total", {"entity": entity}) == total

    # news.tagged: one message per article, with the known mentions.
    tagged = {
        m.key.decode(): json.loads(m.value)
        for m in pipeline.read_topic(pipeline.settings.topic_tagged, len(articles))
    }
    assert len(tagged) == len(articles)
    assert all(tagged[aid]["mentions"] == mentions for aid, mentions in expected["articles"].items())

    # Rule alerts: one per matching article, delivered once per webhook-id, signed, with evidence.
    hits = rule_hits(expected)
    assert len(hits) == 17
    pipeline.wait(lambda: len(receiver.by_kind("rule")) >= len(hits), 60, "rule alerts delivered")
    rule_bodies = receiver.by_kind("rule")
    assert {body["newsmon"]["evidence"][0]["article_id"] for body in rule_bodies.values()} == hits
    assert receiver.rejected == 0
    one = next(iter(rule_bodies.values()))
    assert one["version"] == "4" and one["status"] == "firing" and one["receiver"] == "e2e"
    assert one["alerts"][0]["labels"]["alertname"] == "carter_raqqa"
    evidence = one["newsmon"]["evidence"][0]
    owners = entity_of_name()
    assert {owners[name] for name in evidence["matched_names"]} == {"carter", "raqqa"}
    source = next(a for a in articles if a["id"] == evidence["article_id"])
    assert (evidence["title"], evidence["url"], evidence["source"]) == (
        source["title"],
        source["url"],
        source["source"],
    )
    assert all(count == 1 for count in receiver.deliveries.values())


def test_sample_replay_raises_the_planted_spike_once_with_evidence(
    pipeline: Pipeline, receiver: Receiver
) -> None:
    articles = sample_articles()
    burst = sample_expected()["planted_burst"]
    pipeline.start_worker()
    pipeline.produce("replay", str(SAMPLE / "articles.jsonl"), "--no-progress", "--metrics-port", "0")
    pipeline.wait(lambda: len(receiver.by_kind("spike")) >= 2, 240, "the spike's firing and resolved alerts")
    spikes = sorted(receiver.by_kind("spike").values(), key=lambda body: body["newsmon"]["status"])
    firing, resolved = (body["newsmon"] for body in spikes)
    assert (firing["status"], firing["entity"], firing["rule_id"]) == ("firing", "raqqa", "raqqa_burst")
    assert (firing["starts_at"], firing["count"]) == ("2026-11-21T12:02:00Z", 37)
    assert (resolved["status"], resolved["ends_at"]) == ("resolved", "2026-11-21T12:15:00Z")
    # Evidence: the five raqqa articles with the newest event times in the firing window, newest first.
    by_id = {a["id"]: a for a in articles}
    in_window = sorted(
        (datetime.fromisoformat(a["published_at"]) for a in articles
         if "raqqa" in sample_expected()["articles"][a["id"]]
         and datetime.fromisoformat("2026-11-21T11:53:00Z") <= datetime.fromisoformat(a["published_at"])
         < datetime.fromisoformat("2026-11-21T12:03:00Z")),
        reverse=True,
    )  # fmt: skip
    times = [datetime.fromisoformat(by_id[item["article_id"]]["published_at"]) for item in firing["evidence"]]
    assert [t.replace(second=0) for t in times] == [t.replace(second=0) for t in in_window[:5]]
    assert datetime.fromisoformat(burst["start"]) <= min(times)
    assert all(
        item["matched_names"] == ["الرقة"] or item["matched_names"] == ["Raqqa"]
        for item in firing["evidence"]
    )
    assert spikes[0]["alerts"][0]["labels"]["entity"] == "raqqa"
    assert all(count == 1 for count in receiver.deliveries.values()) and receiver.rejected == 0
    assert pipeline.metric("newsmon_alerts_raised_total", {"kind": "spike"}) == 2
