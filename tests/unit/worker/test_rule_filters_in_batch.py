"""Rule filters applied by the tag step's batch: each filter passes one article and stops another (real matcher)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from streams.watchlist.compiled import compile_watchlist
from streams.watchlist.file import WatchlistError
from streams.worker.batch import tag_batch
from tests.unit.worker.fakes import Msg

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ENTITIES = [
    {"id": "isis", "names": {"ar": ["داعش"], "en": ["ISIS"]}},
    {"id": "mosul", "names": {"ar": ["الموصل"], "en": ["Mosul"]}},
]


def write(tmp_path: Path, rule: dict[str, Any]) -> Path:
    path = tmp_path / "watchlist.yaml"
    data = {"entities": ENTITIES, "rules": [{"id": "r", "webhooks": [], **rule}]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def fired(tmp_path: Path, rule: dict[str, Any], **article: Any) -> bool:
    compiled = compile_watchlist(write(tmp_path, rule), env={})
    value = orjson.dumps({"id": "a1", "title": "", "body": "", "source": "alayam", "lang": "ar", **article})
    (tagged,) = tag_batch(compiled, [Msg(value)], max_bytes=100_000, now=NOW).articles
    return [alert.rule_id for alert in (*tagged.rule_alerts, *tagged.story_rule_alerts)] == ["r"]


def test_in_title(tmp_path: Path) -> None:
    rule = {"expr": "isis", "in": "title"}
    assert fired(tmp_path, rule, title="هجوم لداعش", body="")
    assert not fired(tmp_path, rule, title="هجوم", body="هجوم لداعش")


def test_in_title_with_near_reads_title_positions_only(tmp_path: Path) -> None:
    rule = {"expr": "isis NEAR/3 mosul", "in": "title"}
    assert fired(tmp_path, rule, title="داعش في الموصل", body="")
    assert not fired(tmp_path, rule, title="داعش", body="في الموصل")


def test_min_mentions(tmp_path: Path) -> None:
    rule = {"expr": "isis AND mosul", "min_mentions": {"isis": 2}}
    assert fired(tmp_path, rule, body="داعش الموصل داعش")
    assert not fired(tmp_path, rule, body="داعش الموصل الموصل")


def test_lang(tmp_path: Path) -> None:
    rule = {"expr": "isis", "lang": ["en"]}
    assert fired(tmp_path, rule, body="ISIS", lang="en-GB")
    assert not fired(tmp_path, rule, body="ISIS", lang="ar")


def test_sources_and_not_sources(tmp_path: Path) -> None:
    assert fired(tmp_path, {"expr": "isis", "sources": ["alayam"]}, body="داعش")
    assert not fired(tmp_path, {"expr": "isis", "sources": ["alayam"]}, body="داعش", source="other")
    assert fired(tmp_path, {"expr": "isis", "not_sources": ["alayam"]}, body="داعش", source="other")
    assert not fired(tmp_path, {"expr": "isis", "not_sources": ["alayam"]}, body="داعش")


def test_no_filter_is_as_before(tmp_path: Path) -> None:
    assert fired(tmp_path, {"expr": "isis"}, title="", body="داعش", lang="", source="")


def test_errors_name_the_file_the_entry_and_the_column(tmp_path: Path) -> None:
    path = write(tmp_path, {"expr": "isis", "in": "body"})
    with pytest.raises(WatchlistError) as bad_scope:
        compile_watchlist(path, env={})
    assert str(bad_scope.value) == f"{path}: rules[0] (id 'r'): in: Input should be 'title' or 'any'"
    path = write(tmp_path, {"expr": "isis AND nobody", "in": "title"})
    with pytest.raises(WatchlistError) as bad_entity:
        compile_watchlist(path, env={})
    assert (
        str(bad_entity.value)
        == f"{path}: rules[0] (id 'r'): unknown entity 'nobody' in expression at column 10"
    )
    path = write(tmp_path, {"expr": "isis", "min_mentions": {"mosul": 2}})
    with pytest.raises(WatchlistError) as outside:
        compile_watchlist(path, env={})
    assert (
        str(outside.value)
        == f"{path}: rules[0] (id 'r'): min_mentions: entity 'mosul' is not in the expression"
    )
