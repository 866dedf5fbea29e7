"""The tag agent's pure batch: dead letters, tallies, tagged records, rule alerts, spike evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml

from streams.model.alert import rule_alert_id
from streams.stories.sketch import sketch
from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist
from streams.worker.batch import tag_batch
from tests.unit.worker.fakes import Msg, compile_dict

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CORPUS = Path(__file__).parents[2] / "fixtures" / "stories" / "corpus.jsonl"
WATCHLIST = {
    "entities": [
        {"id": "isis", "names": {"ar": ["داعش"], "en": ["ISIS", "Daesh"]}},
        {"id": "mosul", "names": {"ar": ["الموصل"], "en": ["Mosul"]}},
    ],
    "rules": [{"id": "isis_near_mosul", "expr": "isis NEAR/3 mosul", "webhooks": []}],
}


@pytest.fixture
def compiled(tmp_path: Path) -> CompiledWatchlist:
    return compile_dict(tmp_path, WATCHLIST)


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
        for a in tagged.story_rule_alerts  # rules are per story by default
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


def test_the_story_sketch_comes_from_the_tag_scan_on_both_matcher_paths(
    compiled: CompiledWatchlist, tmp_path: Path
) -> None:
    rows = [orjson.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()[:3]]
    messages = [Msg(article(id=r["id"], title=r["title"], body=r["body"])) for r in rows]
    without_positions = dict(WATCHLIST, rules=[])
    path = tmp_path / "mentions.yaml"
    path.write_text(yaml.safe_dump(without_positions, allow_unicode=True), encoding="utf-8")
    for watchlist in (compiled, compile_watchlist(path, env={})):
        batch = tag_batch(watchlist, messages, max_bytes=1 << 20, now=NOW)
        assert [a.sketch for a in batch.articles] == [sketch(r["body"]) for r in rows]


def test_the_story_request_lists_every_article_and_stories_land_in_news_tagged(
    compiled: CompiledWatchlist,
) -> None:
    body = CORPUS.read_text(encoding="utf-8").splitlines()[0]
    messages = [
        Msg(article(id="long", body=orjson.loads(body)["body"])),
        Msg(article(id="short", title="Mosul")),
    ]
    batch = tag_batch(compiled, messages, max_bytes=1 << 20, now=NOW)
    request = batch.story_request(3600, now=7200.5)
    signature = batch.articles[0].sketch.signature
    assert signature is not None
    assert orjson.loads(request.items) == [["long", 1], ["short", 0]]
    assert request.blob == signature + batch.articles[0].sketch.bands
    assert orjson.loads(request.spec) == {
        "now": 7200, "horizon": 3600, "kept": 3, "needed": 52, "slots": 128, "bands": 32,
    }  # fmt: skip
    batch.assign_stories(["s1", "short"])
    assert [a.tagged["story"] for a in batch.articles] == ["s1", "short"]


def test_per_story_rule_hits_ride_on_the_story_request_and_become_the_story_alert(
    compiled: CompiledWatchlist,
) -> None:
    title = "بالموصل: هجوم لداعش"
    messages = [Msg(article(id="copy", title=title, source="site02"))]
    batch = tag_batch(compiled, messages, max_bytes=1 << 20, now=NOW)
    [own] = batch.articles[0].story_rule_alerts
    assert orjson.loads(batch.story_request(3600, now=0).rule_hits) == [
        [1, "isis_near_mosul", own.model_dump_json()]
    ]
    # Redis says: the story "first" already had this rule's alert (from article "first" on "wire").
    first = own.model_copy(
        update={"id": "first-alert", "evidence": [own.evidence[0].model_copy(update={"article_id": "first"})]}
    )
    batch.assign_stories(["first"], [{"\tfirst": first.to_json(), "wire": b"1", "site02": b"1"}])
    [(alert, raised_here)] = batch.story_alerts
    assert (alert.id, raised_here) == (rule_alert_id("isis_near_mosul", "first"), False)
    assert [(e.article_id, e.story, e.copies, e.copy_sources) for e in alert.evidence] == [
        ("first", "first", 2, ["site02", "wire"])
    ]
