"""The SYNTHETIC sample: counts true by construction, checked against the real matcher and watchlist."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from producers.sample import (
    BURST_COUNT,
    BURST_ENTITY,
    ENTITY_NAMES,
    TITLE_PREFIX,
    generate,
    minute_bucket,
    slot_sentence,
)
from producers.sample_text import AR_FILLER, AR_SLOTS, AR_TITLES, EN_FILLER, EN_SLOTS, EN_TITLES
from streams.matching.matcher import Matcher
from streams.model.article import Article, parse_time
from streams.watchlist.file import load_watchlist

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "ops" / "sample" / "articles.jsonl"
EXPECTED = ROOT / "ops" / "sample" / "expected.json"
WATCHLIST = ROOT / "ops" / "watchlist.yaml"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return load_watchlist(WATCHLIST).matcher()


@pytest.fixture(scope="module")
def sample() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return dict(orjson.loads(EXPECTED.read_bytes()))


def test_sample_names_are_watchlist_names() -> None:
    listed = load_watchlist(WATCHLIST).entity_names()
    for entity, by_lang in ENTITY_NAMES.items():
        for names in by_lang.values():
            assert set(names) <= set(listed[entity]), entity


def test_filler_and_templates_name_no_watchlist_entity(matcher: Matcher) -> None:
    for sentence in AR_FILLER + EN_FILLER:
        assert matcher.mentions("", sentence) == {}, sentence
    for template in AR_SLOTS + EN_SLOTS + AR_TITLES + EN_TITLES:
        assert matcher.mentions("", template.format(e="")) == {}, template


def test_every_generated_mention_form_counts_once(matcher: Matcher) -> None:
    rng = random.Random(7)
    for entity in ENTITY_NAMES:
        for lang in ("ar", "en"):
            for _ in range(200):
                sentence = slot_sentence(entity, lang, rng)
                assert matcher.mentions("", sentence) == {entity: 1}, sentence


def test_committed_sample_matches_the_real_matcher(
    sample: list[dict[str, Any]], expected: dict[str, Any], matcher: Matcher
) -> None:
    per_article = expected["articles"]
    mismatches = [
        (a["id"], matcher.mentions(a["title"], a["body"]), per_article[a["id"]])
        for a in sample
        if matcher.mentions(a["title"], a["body"]) != per_article[a["id"]]
    ]
    assert mismatches == []


def test_committed_sample_is_what_the_generator_makes(
    sample: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    articles, counts = generate(len(sample), seed=1)
    assert articles == sample
    assert counts == expected


def test_sample_shape(sample: list[dict[str, Any]]) -> None:
    assert len(sample) >= 10_000
    assert SAMPLE.stat().st_size <= 30 * 1024 * 1024
    assert len({a["id"] for a in sample}) == len(sample)
    assert {a["lang"] for a in sample} == {"ar", "en"}
    times = [parse_time(a["published_at"]) for a in sample]
    assert all(t is not None for t in times)
    assert times == sorted(times)  # type: ignore[type-var]
    assert max(times) - min(times) >= timedelta(days=2)  # type: ignore[operator]
    for a in sample:
        Article.model_validate(a)
        assert a["title"].startswith(TITLE_PREFIX) and a["source"].startswith("synthetic-")
        assert 1000 <= len(orjson.dumps(a)) <= 6 * 1024


def test_expected_totals_add_up(sample: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    totals: Counter[str] = Counter()
    for counts in expected["articles"].values():
        totals.update(counts)
    assert expected["totals"] == dict(totals)
    for entity, minutes in expected["per_minute"].items():
        assert sum(minutes.values()) == totals[entity]
    first = sample[0]
    for entity, n in expected["articles"][first["id"]].items():
        assert expected["per_minute"][entity][minute_bucket(first["published_at"])] >= n


def test_planted_burst(sample: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    burst = expected["planted_burst"]
    assert burst["entity"] == BURST_ENTITY and burst["count"] == BURST_COUNT
    start, end = datetime.fromisoformat(burst["start"]), datetime.fromisoformat(burst["end"])
    assert end - start == timedelta(minutes=10)
    in_window = [a for a in sample if start <= datetime.fromisoformat(a["published_at"]) < end]
    with_entity = [a for a in in_window if BURST_ENTITY in expected["articles"][a["id"]]]
    assert len(with_entity) >= BURST_COUNT
    assert (
        sum(expected["articles"][a["id"]][BURST_ENTITY] for a in with_entity) == burst["mentions_in_window"]
    )
    assert len({a["source"] for a in with_entity}) >= 3
