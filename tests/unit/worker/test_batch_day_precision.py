"""Day-precision articles in the tag agent's pure batch: counted by day, no spike evidence, marked on news.tagged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from streams.store.counts import Tally, record_args
from streams.watchlist.compiled import CompiledWatchlist
from streams.worker.batch import tag_batch
from tests.unit.worker.fakes import Msg, compile_dict

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
MIDNIGHT = 29_918_880  # 2026-11-20T00:00Z in minutes
WATCHLIST = {
    "entities": [{"id": "raqqa", "names": {"ar": ["الرقة"], "en": ["Raqqa"]}}],
    "spikes": [
        {"id": "raqqa_burst", "entities": ["raqqa"], "window": "10m", "baseline": "1h", "min_count": 3}
    ],
}


@pytest.fixture
def compiled(tmp_path: Path) -> CompiledWatchlist:
    return compile_dict(tmp_path, WATCHLIST)


def message(article_id: str, **fields: str) -> Msg:
    return Msg(orjson.dumps({"id": article_id, "title": "اشتباكات في الرقة", "source": "s1", **fields}))


def test_a_date_only_article_is_counted_by_day_without_evidence(compiled: CompiledWatchlist) -> None:
    day = {"published_at": "2026-11-20T00:00:00+00:00"}
    batch = tag_batch(
        compiled,
        [
            message("dated", **day, published_precision="day"),
            message("exact", **day, published_precision="minute"),
            message("future", published_at="2026-11-21T00:00:00+00:00", published_precision="day"),
        ],
        max_bytes=10_000,
        now=NOW,
    )
    assert [(t.article_id, t.minute, t.by_day) for t in batch.tallies] == [
        ("dated", MIDNIGHT, True),
        ("exact", MIDNIGHT, False),
        ("future", MIDNIGHT + 900, False),  # a future date falls back to ingest time, an exact minute
    ]
    assert [a.watched_names for a in batch.articles] == [{}, {"raqqa": ["الرقة"]}, {"raqqa": ["الرقة"]}]
    assert batch.articles[0].tagged == {
        "id": "dated", "source": "s1", "lang": "", "event_time": "2026-11-20T00:00:00+00:00",
        "mentions": {"raqqa": 1}, "rules": [], "event_precision": "day",
    }  # fmt: skip
    assert "event_precision" not in batch.articles[1].tagged


def test_the_wire_format_flags_day_tallies_only() -> None:
    tallies = [Tally("d", MIDNIGHT, "s", {"raqqa": 1}, by_day=True), Tally("m", MIDNIGHT, "s", {"raqqa": 1})]
    args = record_args("p:", 10, 20, (1,), (5.0, 10.0, 1), tallies)
    assert args[-1] == b'[["d",29918880,"s",0,{"raqqa":1},1],["m",29918880,"s",0,{"raqqa":1}]]'
