"""Spike evidence: which articles are kept for a spike-watched entity, and which ones an alert cites."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
    """The MAX_EVIDENCE entries inside the firing window with the newest event times, newest first
    (the list is in arrival order, which a replay over several partitions scrambles)."""
    inside = [entry for entry in map(orjson.loads, raw) if since_minute <= entry["minute"] <= until_minute]
    inside.sort(key=lambda entry: entry["minute"], reverse=True)
    return [
        Evidence.model_validate({k: v for k, v in e.items() if k != "minute"}) for e in inside[:MAX_EVIDENCE]
    ]


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
