"""Digest tallies in Redis: per digest and period, mentions, articles, sources and evidence per subject; the digest clock; publish markers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis

from streams.store.keys import RedisKeys

# A period's tally outlives the period: a daily digest closes when the stream clock passes the day,
# which a replay or a stalled feed can delay by days.
DIGEST_TTL = 8 * 86400


@dataclass(frozen=True, slots=True)
class TallyRecord:
    """One article's line in one digest period."""

    digest: str
    period_start: int  # unix seconds
    subject: str
    mentions: int
    source: str
    evidence: bytes  # Evidence JSON
    story: str  # the article's story (news.tagged "story")


@dataclass(frozen=True, slots=True)
class RawTally:
    mentions: dict[str, int]
    articles: dict[str, int]
    sources: dict[str, dict[str, int]]
    evidence: dict[str, list[bytes]]
    story_articles: dict[str, dict[str, int]]  # subject → story → articles
    story_sources: dict[str, dict[str, dict[str, int]]]  # subject → story → source → articles
    story_evidence: dict[str, dict[str, bytes]]  # subject → story → its first article (top stories only)


def _split_pairs(raw: dict[bytes, bytes]) -> dict[str, dict[str, int]]:
    """``{"story\tsource": n}`` → story → source → n."""
    nested: dict[str, dict[str, int]] = {}
    for pair, count in raw.items():
        story, _, source = pair.decode().partition("\t")
        nested.setdefault(story, {})[source] = int(count)
    return nested


class DigestStore:
    def __init__(self, client: aioredis.Redis, prefix: str, keep_evidence: int) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self.keep_evidence = keep_evidence

    async def add(self, records: Iterable[TallyRecord]) -> None:
        """Add articles' lines in one round trip (the caller adds each article once: fresh ones only)."""
        touched: set[str] = set()
        async with self.client.pipeline(transaction=False) as pipe:
            for r in records:
                base = self.keys.digest_tally(r.digest, r.period_start)
                evidence = f"{base}:e:{r.subject}"
                pipe.hincrby(f"{base}:m", r.subject, r.mentions)
                pipe.hincrby(f"{base}:a", r.subject, 1)
                pipe.hincrby(f"{base}:s", f"{r.subject}\t{r.source}", 1)
                pipe.lpush(evidence, r.evidence)
                pipe.ltrim(evidence, 0, self.keep_evidence - 1)
                stories = f"{base}:st:{r.subject}", f"{base}:sv:{r.subject}", f"{base}:ss:{r.subject}"
                pipe.hincrby(stories[0], r.story, 1)
                pipe.hsetnx(stories[1], r.story, r.evidence)
                pipe.hincrby(stories[2], f"{r.story}\t{r.source}", 1)
                touched.update((f"{base}:m", f"{base}:a", f"{base}:s", evidence, *stories))
            for key in touched:
                pipe.expire(key, DIGEST_TTL)
            if touched:
                await pipe.execute()

    async def read(self, digest: str, period_start: int, top_stories: int) -> RawTally:
        """The period's tally; the first article of each subject's ``top_stories`` stories only."""
        base = self.keys.digest_tally(digest, period_start)
        async with self.client.pipeline(transaction=False) as pipe:
            for suffix in ("m", "a", "s"):
                pipe.hgetall(f"{base}:{suffix}")
            mentions, articles, sources = await pipe.execute()
        by_subject: dict[str, dict[str, int]] = {}
        for pair, count in sources.items():
            subject, _, source = pair.decode().partition("\t")
            by_subject.setdefault(subject, {})[source] = int(count)
        names = [name.decode() for name in mentions]
        if not names:
            return RawTally({}, {}, {}, {}, {}, {}, {})
        async with self.client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.lrange(f"{base}:e:{name}", 0, self.keep_evidence - 1)
                pipe.hgetall(f"{base}:st:{name}")
                pipe.hgetall(f"{base}:ss:{name}")
            replies = await pipe.execute()
        evidence, story_articles, story_sources = {}, {}, {}
        for index, name in enumerate(names):
            newest, counts, sources_of = replies[3 * index : 3 * index + 3]
            evidence[name] = newest
            story_articles[name] = {story.decode(): int(n) for story, n in counts.items()}
            story_sources[name] = _split_pairs(sources_of)
        firsts = await self._first_articles(base, story_articles, top_stories)
        return RawTally(
            mentions={k.decode(): int(v) for k, v in mentions.items()},
            articles={k.decode(): int(v) for k, v in articles.items()},
            sources=by_subject,
            evidence=evidence,
            story_articles=story_articles,
            story_sources=story_sources,
            story_evidence=firsts,
        )

    async def _first_articles(
        self, base: str, story_articles: dict[str, dict[str, int]], top: int
    ) -> dict[str, dict[str, bytes]]:
        wanted = {
            name: sorted(counts, key=lambda s: (-counts[s], s))[:top]
            for name, counts in story_articles.items()
        }
        async with self.client.pipeline(transaction=False) as pipe:
            for name, stories in wanted.items():
                pipe.hmget(f"{base}:sv:{name}", stories) if stories else pipe.echo(b"")
            replies = await pipe.execute()
        return {
            name: {story: value for story, value in zip(stories, reply or [], strict=False) if value}
            for (name, stories), reply in zip(wanted.items(), replies, strict=True)
        }

    async def advance_clock(self, digest: str, clock: int) -> int | None:
        """Move the digest's stream clock (unix seconds) forward; the previous value (None the first
        time), or ``clock`` itself when it did not move forward."""
        key = self.keys.digest_clock(digest)
        previous = await self.client.get(key)
        if previous is not None and int(previous) >= clock:
            return clock
        await self.client.set(key, clock)
        return None if previous is None else int(previous)

    async def published(self, digest_id: str) -> bool:
        return bool(await self.client.exists(self.keys.digest_published(digest_id)))

    async def mark_published(self, digest_id: str) -> None:
        await self.client.set(self.keys.digest_published(digest_id), b"1", ex=DIGEST_TTL)
