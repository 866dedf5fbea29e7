"""Digests on the real stack: a --speedup replay of the sample sends the daily digest of each of its days, signed, once; a second replay gives the same ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.model.settings import Settings
from tests.e2e.harness import SAMPLE, Pipeline, base_watchlist, lines_of, sample_articles, sample_expected
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e
TOP = 3
DIGEST = {"id": "daily_all", "every": "daily", "at": "00:00", "tz": "UTC", "entities": "*", "top": TOP}
DAYS = ["2026-11-20", "2026-11-21", "2026-11-22"]
# One article of the next day moves the stream clock past the sample's last day, closing it.
NEXT_DAY = {"id": "next-day", "title": "[synthetic] next day", "body": "Baghdad", "lang": "en",
            "source": "synthetic-en-1", "url": "https://example.invalid/next",
            "published_at": "2026-11-23T00:05:00+00:00"}  # fmt: skip


def known_days() -> dict[str, list[tuple[str, int, int]]]:
    """Per UTC day of the sample: the top entities as (entity, mentions, articles), by construction."""
    expected = sample_expected()
    mentions: dict[str, Counter[str]] = {day: Counter() for day in DAYS}
    articles: dict[str, Counter[str]] = {day: Counter() for day in DAYS}
    for entity, minutes in expected["per_minute"].items():
        for minute, n in minutes.items():
            mentions[minute[:10]][entity] += n
    for article in sample_articles():
        day = utc_day(article["published_at"])
        articles[day].update(expected["articles"][article["id"]].keys())
    return {
        day: [(e, n, articles[day][e]) for e, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]]
        for day, c in mentions.items()
    }


def utc_day(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%d")


def replay_digests(pipeline: Pipeline, receiver: Receiver) -> dict[str, dict[str, Any]]:
    pipeline.start_worker()
    pipeline.produce("replay", str(SAMPLE / "articles.jsonl"), "--speedup", "20000", "--no-progress",
                     "--metrics-port", "0", timeout=600)  # fmt: skip
    pipeline.produce("replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of([NEXT_DAY]))
    pipeline.wait(lambda: len(receiver.by_kind("digest")) >= len(DAYS), 120, "the three daily digests")
    return receiver.by_kind("digest")


@pytest.fixture
def digest_pipeline(
    stack_settings: Settings, stack_dir: Path, tmp_path: Path, receiver: Receiver
) -> Iterator[Pipeline]:
    (tmp_path / "one").mkdir()
    deployment = Pipeline(stack_settings, tmp_path / "one", stack_dir,
                          base_watchlist({"digests": [DIGEST]}, receiver.url))  # fmt: skip
    yield deployment
    deployment.close()


def test_a_speedup_replay_sends_each_days_digest_once_signed_and_a_second_replay_the_same_ids(
    digest_pipeline: Pipeline, receiver: Receiver, stack_settings: Settings, stack_dir: Path, tmp_path: Path
) -> None:
    bodies = replay_digests(digest_pipeline, receiver)
    known = known_days()
    by_period = {body["newsmon"]["digest"]["period"]: body["newsmon"] for body in bodies.values()}
    assert sorted(by_period) == [f"{day} UTC" for day in DAYS]
    for day in DAYS:
        digest = by_period[f"{day} UTC"]
        entries = [(e["subject"], e["mentions"], e["articles"]) for e in digest["digest"]["entries"]]
        assert entries == known[day], day
        assert (digest["starts_at"], digest["ends_at"]) == (f"{day}T00:00:00Z", f"{next_day(day)}T00:00:00Z")
        assert all(sum(e["sources"].values()) == e["articles"] for e in digest["digest"]["entries"])
        # Stories (streams/stories, on news.tagged): up to 3 per line, each with its first article.
        assert all(1 <= len(e["stories"]) <= 3 for e in digest["digest"]["entries"])
        assert all(
            [s["evidence"] for s in e["stories"]] == e["evidence"] for e in digest["digest"]["entries"]
        )
        assert all(
            sum(s["articles"] for s in e["stories"]) <= e["articles"] for e in digest["digest"]["entries"]
        )
    # Signed (the receiver verified each) and each digest id delivered once.
    assert receiver.rejected == 0 and all(count == 1 for count in receiver.deliveries.values())
    first_ids = sorted(body["id"] for body in by_period.values())
    assert len(set(first_ids)) == 3
    assert digest_pipeline.metric("newsmon_alerts_raised_total", {"kind": "digest"}) == 3

    # A second replay into a fresh deployment (its own topics and Redis prefix): the same ids.
    digest_pipeline.stop_worker()
    receiver.bodies.clear()
    receiver.deliveries.clear()
    (tmp_path / "two").mkdir()
    second = Pipeline(
        stack_settings, tmp_path / "two", stack_dir, base_watchlist({"digests": [DIGEST]}, receiver.url)
    )
    try:
        again = replay_digests(second, receiver)
        assert sorted(body["newsmon"]["id"] for body in again.values()) == first_ids
    finally:
        second.close()


def next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
