"""The digest step against real Redis: tallies per period, a digest per closed period, once — also after a restart or a lagging clock."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from streams.model.alert import Alert
from streams.model.article import Article
from streams.model.settings import Settings
from streams.store.counts import Tally
from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist
from streams.worker.batch import Batch, TaggedArticle
from streams.worker.digest_step import DigestStep

pytestmark = pytest.mark.integration
DAY = datetime(2026, 11, 20, tzinfo=UTC)


def minute(hour: int, day: int = 20) -> int:
    return int(datetime(2026, 11, day, hour, tzinfo=UTC).timestamp()) // 60


def compiled_watchlist(tmp_path: Path, send_empty: bool = False) -> CompiledWatchlist:
    data = {
        "entities": [{"id": e, "names": {"en": [e.title()]}} for e in ("isis", "mosul", "turkey")],
        "rules": [{"id": "isis_mosul", "expr": "isis AND mosul", "webhooks": []}],
        "digests": [{"id": "daily", "entities": ["isis", "mosul"], "rules": ["isis_mosul"], "top": 2,
                     "send_empty": send_empty, "webhooks": []}],
    }  # fmt: skip
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return compile_watchlist(path, env={})


def tagged(
    article_id: str,
    at_minute: int,
    mentions: dict[str, int],
    source: str,
    rules: Sequence[str] = (),
    story: str = "",
) -> TaggedArticle:
    article = Article(
        id=article_id, title=f"title {article_id}", url=f"https://x.invalid/{article_id}", source=source
    )
    alerts = tuple(
        Alert(id=f"{r}-{article_id}", kind="rule", status="firing", rule_id=r, severity="info",
              starts_at=datetime.fromtimestamp(at_minute * 60, UTC))
        for r in rules
    )  # fmt: skip
    record = {"story": story} if story else {}
    return TaggedArticle(article, Tally(article_id, at_minute, source, mentions), record, 0.0, alerts)


async def test_a_closed_day_is_published_once_with_its_top_subjects(
    stack_settings: Settings, tmp_path: Path
) -> None:
    compiled = compiled_watchlist(tmp_path)
    client = aioredis.from_url(stack_settings.redis_url)
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    published: list[Alert] = []

    async def publish(alerts: Sequence[Alert]) -> None:
        published.extend(alerts)

    step = DigestStep(client, prefix, publish)
    try:
        batch = Batch(articles=[
            tagged("a1", minute(9), {"isis": 3, "mosul": 1}, "s1", ["isis_mosul"], story="st1"),
            tagged("a2", minute(10), {"isis": 1, "turkey": 9}, "s2", story="st1"),  # a copy of a1's text
            tagged("a3", minute(11), {"mosul": 2}, "s1", story="st2"),
            tagged("dup", minute(11), {"mosul": 50}, "s1"),  # a redelivery: not fresh
        ])  # fmt: skip
        await step.record(compiled, batch, [True, True, True, False])
        assert await step.advance(compiled, minute(12)) == []  # the first clock seen: nothing closes
        await step.record(compiled, Batch(articles=[tagged("b1", minute(1, 21), {"isis": 1}, "s3")]), [True])
        (digest,) = await step.advance(compiled, minute(1, 21))
        assert digest.digest is not None
        assert [(e.subject, e.mentions, e.articles, e.sources) for e in digest.digest.entries] == [
            ("isis", 4, 2, {"s1": 1, "s2": 1}),
            ("mosul", 3, 2, {"s1": 2}),
        ]
        isis, mosul = digest.digest.entries
        assert [(s.story, s.articles, s.sources, s.evidence.article_id) for s in isis.stories] == [
            ("st1", 2, {"s1": 1, "s2": 1}, "a1"),  # one story, its first article as evidence
        ]
        assert [(s.story, s.articles, s.evidence.article_id) for s in mosul.stories] == [
            ("st1", 1, "a1"),
            ("st2", 1, "a3"),
        ]
        assert [e.article_id for e in isis.evidence] == ["a1"]
        assert (digest.starts_at, digest.digest.period, published) == (DAY, "2026-11-20 UTC", [digest])

        # A restarted step, and a clock that lags and catches up again: the day is not published twice.
        again = DigestStep(client, prefix, publish)
        assert await again.advance(compiled, minute(1, 21)) == []
        await client.set(f"{prefix}dg:daily:clock", minute(23) * 60)  # a worker behind the others
        assert await again.advance(compiled, minute(2, 21)) == []
        assert published == [digest]
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_an_empty_day_sends_nothing_unless_send_empty(stack_settings: Settings, tmp_path: Path) -> None:
    client = aioredis.from_url(stack_settings.redis_url)
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    sent: dict[bool, list[Alert]] = {False: [], True: []}
    try:
        for send_empty in (False, True):
            compiled = compiled_watchlist(tmp_path, send_empty)

            async def publish(alerts: Sequence[Alert], into: list[Alert] = sent[send_empty]) -> None:
                into.extend(alerts)

            step = DigestStep(client, f"{prefix}{send_empty}:", publish)
            await step.advance(compiled, minute(12))
            await step.advance(compiled, minute(12, 21))
        assert sent[False] == []
        ((empty,),) = [sent[True]]
        assert empty.digest is not None and (empty.digest.entries, empty.description) == (
            [],
            "2026-11-20 UTC: nothing new",
        )
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
