"""What one spike evaluation reads and steps through: candidates, minutes, the spike section's spec and reply."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.model.article import Article
from streams.model.minutes import to_seconds
from streams.spikes.detector import SpikeDetector
from streams.spikes.evidence import EVIDENCE_KEPT, evidence_entry

MAX_STEPS = 1440  # minutes of clock movement evaluated in one call; older ones are skipped
# An article of a batch for the counting call: its position (from 1), event minute, and the names
# matched for each spike-watched entity it mentions (its evidence).
Counted = tuple[int, Article, int, Mapping[str, list[str]]]


@dataclass(frozen=True, slots=True)
class Candidate:
    detector: SpikeDetector
    entity: str


def candidates(
    detectors: Sequence[SpikeDetector], mentioned: Iterable[str], firing: Iterable[str]
) -> list[Candidate]:
    """Detector/entity pairs to evaluate: entities just mentioned, and every pair currently firing."""
    by_id = {detector.id: detector for detector in detectors}
    pairs = {(d.id, e) for e in set(mentioned) for d in detectors if d.applies_to(e)}
    for member in firing:
        spike_id, _, entity = member.partition("\t")
        if spike_id in by_id:
            pairs.add((spike_id, entity))
    return [Candidate(by_id[spike_id], entity) for spike_id, entity in sorted(pairs)]


def evaluation_minutes(previous: int, current: int) -> list[int]:
    """Every minute the clock passed in one call (a replay moves it hours at a time), or just the
    current minute when it did not move (late articles may still have changed its windows)."""
    if previous < 0 or current <= previous:
        return [current]
    return list(range(max(previous + 1, current - MAX_STEPS + 1), current + 1))


def sources_at(per_minute_sources: Mapping[int, set[str]], minute: int, window_minutes: int) -> int:
    """Distinct sources over the window of minutes ending at `minute`."""
    seen: set[str] = set()
    for m in range(minute - window_minutes + 1, minute + 1):
        seen |= per_minute_sources.get(m, set())
    return len(seen)


@dataclass(frozen=True, slots=True)
class History:
    """What one evaluation reads: per-minute counts (keyed by minute start, seconds) and sources."""

    counts: dict[str, dict[int, int]]
    sources: dict[str, dict[int, set[str]]]
    states: dict[Candidate, dict[str, str]]
    started: dict[str, int] = field(default_factory=dict)  # detector id -> first evaluated (seconds)
    # The same for story-measured detectors: stories per minute, sources of the stories' first copies.
    story_counts: dict[str, dict[int, int]] = field(default_factory=dict)
    story_sources: dict[str, dict[int, set[str]]] = field(default_factory=dict)

    def counts_for(self, detector: SpikeDetector, entity: str) -> dict[int, int]:
        counts = self.story_counts if detector.measures == "stories" else self.counts
        return counts.get(entity, {})

    def sources_for(self, detector: SpikeDetector, entity: str) -> dict[int, set[str]]:
        sources = self.story_sources if detector.measures == "stories" else self.sources
        return sources.get(entity, {})

    @classmethod
    def parse(
        cls, detectors: Sequence[SpikeDetector], snapshot: Mapping[str, Any], todo: Sequence[Candidate]
    ) -> History:
        """From the spike section's reply (JSON; Lua's empty tables arrive as {}, nil values as false)."""
        entities: list[str] = snapshot["entities"]
        read = {(spike_id, entity): flat or [] for spike_id, entity, flat in snapshot["states"]}
        states = {c: _pairs(read[c.detector.id, c.entity]) for c in todo}
        started = {d.id: int(v) for d, v in zip(detectors, snapshot["started"], strict=True) if v}
        return cls(
            _counts(entities, snapshot["first"], snapshot["counts"]),
            _sources(entities, snapshot["source_from"], snapshot["sources"]),
            states,
            started,
            _counts(entities, snapshot["first"], snapshot.get("story_counts") or []),
            _sources(entities, snapshot["source_from"], snapshot.get("story_sources") or []),
        )


def _counts(entities: Sequence[str], first: int, rows: Sequence[Sequence[Any]]) -> dict[str, dict[int, int]]:
    """Per-minute HMGET rows (one value per entity, false when absent) as entity -> minute start -> n."""
    counts: dict[str, dict[int, int]] = {entity: {} for entity in entities}
    for offset, values in enumerate(rows):
        for entity, value in zip(entities, values, strict=True):
            if value is not False:
                counts[entity][to_seconds(first + offset)] = int(value)
    return counts


def _sources(entities: Sequence[str], first: int, rows: Sequence[Any]) -> dict[str, dict[int, set[str]]]:
    """Per-minute "entity\tsource" lists as entity -> minute -> sources."""
    sources: dict[str, dict[int, set[str]]] = {entity: {} for entity in entities}
    for offset, found in enumerate(rows):
        for pair in found or ():
            entity, _, source = pair.partition("\t")
            sources[entity].setdefault(first + offset, set()).add(source)
    return sources


def section_spec(detectors: Sequence[SpikeDetector], articles: Sequence[Counted], evidence_ttl: int) -> bytes:
    """The spike section's input (JSON, store/lua/spike_section.lua): the detectors, and the evidence
    of articles that mention a watched entity (kept for the fresh ones only, `evidence_ttl` seconds)."""
    evidence: list[list[Any]] = []
    for index, article, minute, names in articles:
        if names:
            entries = [(e, evidence_entry(article, minute, found).decode()) for e, found in names.items()]
            evidence.append([index, *(item for entry in entries for item in entry)])
    data = {"detectors": [_detector_spec(d) for d in detectors], "evidence": evidence}
    return orjson.dumps(data | {"kept": EVIDENCE_KEPT, "ttl": evidence_ttl, "max_steps": MAX_STEPS})


def _detector_spec(detector: SpikeDetector) -> dict[str, Any]:
    """What the spike section needs of a detector: which entities, and how many minutes it reads."""
    entities = "*" if detector.entities is None else sorted(detector.entities)
    return {
        "id": detector.id, "entities": entities, "span": detector.span_minutes, "window": detector.window_minutes,
        "stories": detector.measures == "stories",
    }  # fmt: skip


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))
