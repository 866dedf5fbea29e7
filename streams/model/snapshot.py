"""The read model of the counts: one consistent Snapshot of Redis, and the top entities in it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent read of the counts: the stream clock (minutes, -1 = nothing counted yet), every
    window hash (window minutes -> entity -> count), distinct sources and distinct stories the same
    way, the per-minute buckets of the last minutes (minute -> entity -> count; mentions, and stories
    for story-measured spike detectors) and the firing spike pairs."""

    clock_minute: int
    windows: Mapping[int, Mapping[str, int]]
    sources: Mapping[int, Mapping[str, int]]
    stories: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    minutes: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    story_minutes: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    firing: frozenset[tuple[str, str]] = frozenset()


def top_entities(counts: Mapping[str, int], entities: Iterable[str], n: int) -> list[tuple[str, int]]:
    """The n watched entities with the most mentions (ties by id), zero counts left out."""
    ranked = sorted(
        ((e, counts[e]) for e in set(entities) if counts.get(e, 0) > 0), key=lambda p: (-p[1], p[0])
    )
    return ranked[:n]
