"""The digest part of the tag step: tally fresh articles per digest period, publish each closed period's digest once (stream clock)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from streams.digests.build import EVIDENCE_PER_SUBJECT, PeriodTally, build_digest, subjects
from streams.digests.schedule import Digest, Period, digest_id
from streams.model.alert import Alert, Evidence
from streams.model.minutes import to_seconds
from streams.store.digests import DigestStore, RawTally, TallyRecord
from streams.watchlist.compiled import CompiledWatchlist
from streams.worker.batch import Batch, TaggedArticle

log = logging.getLogger(__name__)
Publish = Callable[[Sequence[Alert]], Awaitable[Any]]


class DigestStep:
    """Runs inside the tag step's clock lock: a batch is tallied before the clock it moved closes periods."""

    def __init__(self, client: aioredis.Redis, prefix: str, publish: Publish) -> None:
        self.store = DigestStore(client, prefix, keep_evidence=EVIDENCE_PER_SUBJECT)
        self.publish = publish

    async def record(self, compiled: CompiledWatchlist, batch: Batch, fresh: Sequence[bool]) -> None:
        """Tally the batch's fresh articles (a redelivered article was tallied the first time)."""
        if not compiled.digests:
            return
        records = [
            record
            for tagged, is_fresh in zip(batch.articles, fresh, strict=True)
            if is_fresh
            for record in tally_records(compiled.digests, tagged)
        ]
        await self.store.add(records)

    async def advance(self, compiled: CompiledWatchlist, clock_minute: int) -> list[Alert]:
        """Publish the digests of the periods the stream clock has now passed (each digest id once)."""
        if clock_minute < 0:
            return []
        now = to_seconds(clock_minute)
        published: list[Alert] = []
        for digest in compiled.digests:
            before = await self.store.advance_clock(digest.id, now)
            if before is None or before >= now:
                continue
            after = datetime.fromtimestamp(now, UTC)
            for period in digest.schedule.closed_between(datetime.fromtimestamp(before, UTC), after):
                alert = await self.close(digest, period)
                if alert is not None:
                    published.append(alert)
        return published

    async def close(self, digest: Digest, period: Period) -> Alert | None:
        ident = digest_id(digest.id, period)
        if await self.store.published(ident):
            return None
        raw = await self.store.read(digest.id, int(period.start.timestamp()), digest.stories)
        alert = build_digest(digest, period, period_tally(raw))
        if alert is None:
            return None
        # Published before it is marked: a crash in between publishes it again, and the deliver step's
        # marker per webhook-id (digest id + receiver) still sends it once.
        await self.publish([alert])
        await self.store.mark_published(ident)
        log.info(
            "digest %s %s: %d subjects",
            digest.id,
            digest.schedule.label(period),
            len(alert.digest.entries) if alert.digest else 0,
        )
        return alert


def tally_records(digests: Sequence[Digest], tagged: TaggedArticle) -> list[TallyRecord]:
    """One article's lines in every digest that covers something it mentions or matched."""
    article = tagged.article
    at = datetime.fromtimestamp(to_seconds(tagged.tally.minute), UTC)
    rule_hits = [alert.rule_id for alert in tagged.rule_alerts]
    story = str(tagged.tagged.get("story") or article.id)  # an article without a story is its own
    evidence = b""
    records: list[TallyRecord] = []
    for digest in digests:
        lines = subjects(digest, tagged.tally.mentions, rule_hits)
        if not lines:
            continue
        evidence = evidence or orjson.dumps(Evidence.from_article(article, []).model_dump(mode="json"))
        start = int(digest.schedule.period_containing(at).start.timestamp())
        records += [
            TallyRecord(digest.id, start, subject, count, article.source, evidence, story)
            for subject, count in lines.items()
        ]
    return records


def period_tally(raw: RawTally) -> PeriodTally:
    return PeriodTally(
        mentions=raw.mentions,
        articles=raw.articles,
        sources=raw.sources,
        evidence={
            s: [Evidence.model_validate_json(item) for item in items] for s, items in raw.evidence.items()
        },
        story_articles=raw.story_articles,
        story_sources=raw.story_sources,
        story_evidence={
            subject: {story: Evidence.model_validate_json(item) for story, item in firsts.items()}
            for subject, firsts in raw.story_evidence.items()
        },
    )
