"""Spike evidence: which articles are kept for a spike-watched entity, and which ones an alert cites."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from streams.matching.matcher import Match
from streams.model.alert import Evidence
from streams.model.article import Article
from streams.spikes.detector import SpikeDetector

MAX_EVIDENCE = 5
EVIDENCE_KEPT = 200  # recent articles remembered per entity (by arrival, so keep enough for a replay)


def evidence_entry(article: Article, minute: int, names: Sequence[str]) -> bytes:
    """What the evidence list keeps of an article: enough for an alert, nothing more."""
    evidence = Evidence.from_article(article, list(names))
    return orjson.dumps({"minute": minute, **evidence.model_dump(mode="json")})


def pick_evidence(raw: Sequence[bytes | str], since_minute: int, until_minute: int) -> list[Evidence]:
    """The MAX_EVIDENCE stories inside the firing window with the newest event times, newest first
    (the list is newest arrival first, which a replay over several partitions scrambles). A story is
    cited by its first copy kept in the list, with the copies kept in the window and their sources;
    an entry without a story (no story section) is a story of its own."""
    inside = [entry for entry in map(orjson.loads, raw) if since_minute <= entry["minute"] <= until_minute]
    by_story: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for arrival, entry in reversed(list(enumerate(inside))):  # oldest first: a story's first copy leads
        by_story.setdefault(entry.get("story") or "article " + entry["article_id"], []).append(
            (arrival, entry)
        )
    # Newest event minute first; among equals, the newest arrival (the smallest position) first.
    groups = sorted(
        by_story.values(), key=lambda copies: (-max(e["minute"] for _, e in copies), copies[-1][0])
    )
    return [_cited([entry for _, entry in copies]) for copies in groups[:MAX_EVIDENCE]]


def _cited(copies: list[dict[str, Any]]) -> Evidence:
    first = {k: v for k, v in copies[0].items() if k != "minute"}
    if first.get("story") is None:
        return Evidence.model_validate(first)
    sources = sorted({e["source"] for e in copies})
    return Evidence.model_validate({**first, "copies": len(copies), "copy_sources": sources})


def spike_watched(detectors: Sequence[SpikeDetector], mentions: Iterable[str]) -> list[str]:
    """The mentioned entities that some spike detector watches (their articles are kept as evidence)."""
    return [e for e in mentions if any(d.applies_to(e) for d in detectors)]


def names_by_entity(matches: Iterable[Match], entities: Iterable[str]) -> dict[str, list[str]]:
    """The names matched for each of `entities`, sorted, from an article's matches."""
    names: dict[str, set[str]] = {entity: set() for entity in entities}
    for match in matches:
        if match.entity in names:
            names[match.entity].add(match.name)
    return {entity: sorted(found) for entity, found in names.items()}
