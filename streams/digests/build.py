"""A digest from one period's tally: the top subjects by mentions, with articles, sources and evidence (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from streams.digests.schedule import Digest, Period, digest_id
from streams.model.alert import Alert, DigestContent, DigestEntry, DigestStory, Evidence

EVIDENCE_PER_SUBJECT = 3  # newest articles kept per subject and period (lines without stories)
RULE_PREFIX = "rule:"  # a covered rule's line in a digest: rule:<id>


@dataclass(frozen=True, slots=True)
class PeriodTally:
    """What one digest period collected, per subject (an entity id, or rule:<id>)."""

    mentions: Mapping[str, int] = field(default_factory=dict)
    articles: Mapping[str, int] = field(default_factory=dict)
    sources: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    evidence: Mapping[str, Sequence[Evidence]] = field(default_factory=dict)
    # Per subject and story: articles, articles per source, the story's first article.
    story_articles: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    story_sources: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    story_evidence: Mapping[str, Mapping[str, Evidence]] = field(default_factory=dict)


def subjects(digest: Digest, mentions: Mapping[str, int], rule_hits: Iterable[str]) -> dict[str, int]:
    """An article's lines in ``digest``: covered entities with their mentions, covered rules it matched (1)."""
    covered = {
        entity: count
        for entity, count in mentions.items()
        if count and (digest.entities is None or entity in digest.entities)
    }
    covered.update((RULE_PREFIX + rule, 1) for rule in rule_hits if rule in digest.rules)
    return covered


def top_subjects(tally: PeriodTally, top: int) -> list[str]:
    """The ``top`` subjects by mentions, then by articles, then by name (a stable order)."""
    ranked = sorted(tally.mentions, key=lambda s: (-tally.mentions[s], -tally.articles.get(s, 0), s))
    return ranked[:top]


def top_stories(tally: PeriodTally, subject: str, top: int) -> list[DigestStory]:
    """The subject's ``top`` stories by articles (then story id), each with its sources and first article."""
    counts = tally.story_articles.get(subject, {})
    evidence = tally.story_evidence.get(subject, {})
    ranked = sorted((s for s in counts if s in evidence), key=lambda s: (-counts[s], s))[:top]
    return [
        DigestStory(
            story=story,
            articles=counts[story],
            sources=by_count(tally.story_sources.get(subject, {}).get(story, {})),
            evidence=evidence[story],
        )
        for story in ranked
    ]


def by_count(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def build_digest(digest: Digest, period: Period, tally: PeriodTally) -> Alert | None:
    """The digest alert of ``period``; None when nothing happened and ``send_empty`` is off."""
    names = top_subjects(tally, digest.top)
    if not names and not digest.send_empty:
        return None
    entries = [entry(tally, name, digest.stories) for name in names]
    label = digest.schedule.label(period)
    return Alert(
        id=digest_id(digest.id, period),
        kind="digest",
        status="firing",
        rule_id=digest.id,
        severity="info",
        description=describe(label, entries),
        starts_at=period.start,
        ends_at=period.end,
        count=sum(line.articles for line in entries),
        evidence=[item for line in entries for item in line.evidence],
        receivers=list(digest.receivers),
        digest=DigestContent(period=label, entries=entries),
    )


def entry(tally: PeriodTally, name: str, stories: int) -> DigestEntry:
    """One line: its counts and top stories; the newest articles when no story was recorded."""
    ranked = top_stories(tally, name, stories)
    return DigestEntry(
        subject=name,
        mentions=tally.mentions[name],
        articles=tally.articles.get(name, 0),
        sources=by_count(tally.sources.get(name, {})),
        stories=ranked,
        evidence=[s.evidence for s in ranked] or list(tally.evidence.get(name, ()))[:EVIDENCE_PER_SUBJECT],
    )


def describe(label: str, entries: Sequence[DigestEntry]) -> str:
    """The digest as text: one line per subject (chat receivers show this)."""
    if not entries:
        return f"{label}: nothing new"
    lines = [f"{label}:"]
    for line in entries:
        sources = ", ".join(f"{source} {n}" for source, n in list(line.sources.items())[:3])
        lines.append(f"{line.subject}: {line.mentions} mentions in {line.articles} articles ({sources})")
        lines += [
            f"  {s.evidence.title or s.evidence.article_id} ({s.articles} articles)" for s in line.stories
        ]
    return "\n".join(lines)
