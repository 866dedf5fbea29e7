"""The tag agent's pure batch: dead letters, tallies, tagged records, rule alerts, spike evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml

from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist
from streams.worker.batch import tag_batch

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WATCHLIST = {
    "entities": [
        {"id": "isis", "names": {"ar": ["داعش"], "en": ["ISIS", "Daesh"]}},
        {"id": "mosul", "names": {"ar": ["الموصل"], "en": ["Mosul"]}},
    ],
    "rules": [{"id": "isis_near_mosul", "expr": "isis NEAR/3 mosul", "webhooks": []}],
}


@dataclass
class Msg:
    value: bytes | None
    key: bytes | None = b"k"
    topic: str = "news.articles"
    partition: int = 2
    offset: int = 7
    timestamp: float = 1_795_000_000.0


@pytest.fixture
def compiled(tmp_path: Path) -> CompiledWatchlist:
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(WATCHLIST, allow_unicode=True), encoding="utf-8")
    return compile_watchlist(path, env={})


def article(**fields: object) -> bytes:
    return orjson.dumps({"id": "a1", "title": "", "body": "", "source": "s1", **fields})


def test_a_batch_is_split_into_dead_letters_tallies_and_alerts(compiled: CompiledWatchlist) -> None:
    batch = tag_batch(
        compiled,
        [
            Msg(b"\xff"),
            Msg(article(id="near", title="بالموصل: هجوم لداعش", published_at="2026-11-23T11:30:00+00:00")),
            Msg(article(id="far", body="Mosul " + "word " * 10 + "ISIS", lang="en"), partition=5),
        ],
        max_bytes=10_000,
        now=NOW,
    )
    assert [record["reason"] for _, record in batch.dead] == ["not_utf8: invalid UTF-8 at byte 0"]
    assert [(t.article_id, t.minute, t.source, dict(t.mentions), t.partition) for t in batch.tallies] == [
        ("near", 29_923_890, "s1", {"mosul": 1, "isis": 1}, 2),
        ("far", 29_923_920, "s1", {"mosul": 1, "isis": 1}, 5),  # no published_at: ingest time
    ]
    assert [
        (i, a.rule_id, a.evidence[0].article_id, a.evidence[0].matched_names)
        for i, tagged in enumerate(batch.articles)
        for a in tagged.rule_alerts
    ] == [(0, "isis_near_mosul", "near", ["الموصل", "داعش"])]
    tagged = {a.article.id: a.tagged for a in batch.articles}
    assert tagged["near"] == {
        "id": "near", "source": "s1", "lang": "", "event_time": "2026-11-23T11:30:00+00:00",
        "mentions": {"mosul": 1, "isis": 1}, "rules": ["isis_near_mosul"],
    }  # fmt: skip
    assert tagged["far"]["rules"] == []


def test_spike_watched_entities_keep_their_matched_names_from_one_scan(tmp_path: Path) -> None:
    watchlist = {
        **{k: v for k, v in WATCHLIST.items() if k != "rules"},
        "spikes": [
            {"id": "mosul_burst", "entities": ["mosul"], "window": "5m", "baseline": 3, "min_count": 2}
        ],
    }
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(watchlist, allow_unicode=True), encoding="utf-8")
    compiled = compile_watchlist(path, env={})
    scans: list[str] = []
    find = compiled.matcher.find
    compiled.matcher.find = lambda title, body: scans.append(title) or find(title, body)  # type: ignore[method-assign]
    messages = [
        Msg(article(id="a", title="Mosul and الموصل", body="ISIS")),
        Msg(article(id="b", title="ISIS only")),
    ]
    batch = tag_batch(compiled, messages, max_bytes=10_000, now=NOW)
    assert [a.watched_names for a in batch.articles] == [{"mosul": ["Mosul", "الموصل"]}, {}]
    assert scans == ["Mosul and الموصل"]  # only the article with spike evidence is scanned again
