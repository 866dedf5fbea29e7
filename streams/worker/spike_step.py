"""Spike evaluation on the stream clock: Redis windows in, `streams.spikes.detector` decisions, state by compare-and-set."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import redis.asyncio as aioredis

from streams.matching.matcher import Match
from streams.model.alert import Alert, Evidence
from streams.model.article import Article
from streams.model.minutes import to_minutes, to_seconds
from streams.spikes.detector import Decision, SpikeDetector, SpikeState
from streams.store import scripts
from streams.store.counts import Recorded
from streams.store.keys import RedisKeys
from streams.watchlist.compiled import CompiledWatchlist

MAX_EVIDENCE = 5
EVIDENCE_KEPT = 200  # recent articles remembered per entity (by arrival, so keep enough for a replay)
EVIDENCE_TTL = 2 * 86400  # seconds; as long as the minute buckets the counts come from
MAX_STEPS = 1440  # minutes of clock movement evaluated in one call; older ones are skipped
# An article of a batch for the counting call: its position (from 1), event minute, and the names
# matched for each spike-watched entity it mentions (its evidence).
Counted = tuple[int, Article, int, Mapping[str, list[str]]]


@dataclass(frozen=True, slots=True)
class Candidate:
    detector: SpikeDetector
    entity: str


def candidates(
    compiled: CompiledWatchlist, mentioned: Iterable[str], firing: Iterable[str]
) -> list[Candidate]:
    """Detector/entity pairs to evaluate: entities just mentioned, and every pair currently firing."""
    by_id = {detector.id: detector for detector in compiled.spikes}
    pairs = {(d.id, e) for e in set(mentioned) for d in compiled.spikes if d.applies_to(e)}
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


class SpikeStep:
    """Evaluates candidates after each counted batch; publishes the alerts (when given `publish`)
    before it records the new detector state, and returns the alerts it raised.

    What evaluation reads and the evidence it keeps ride on the batch's counting call (`request`
    builds that part of the call, `Recorded.spikes` holds the reply); only a state change (a firing,
    a resolution) costs a round trip of its own.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        publish: Callable[[list[Alert]], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self.publish = publish
        self._cas = client.register_script(scripts.SPIKE_CAS)

    def _state_key(self, candidate: Candidate) -> str:
        return self.keys.spike_state(candidate.detector.id, candidate.entity)

    def request(self, compiled: CompiledWatchlist, articles: Sequence[Counted]) -> bytes | None:
        """The spike section of a counting call, None without detectors (see `spec`)."""
        return spec(compiled, articles) if compiled.spikes else None

    async def evaluate(self, compiled: CompiledWatchlist, recorded: Recorded) -> list[Alert]:
        """Spike alerts for every minute the clock passed, from the spike section's reply that rode on
        the counting call (`recorded.spikes`; None when the call carried no spike section)."""
        reply = recorded.spikes
        if not compiled.spikes or reply is None:
            return []
        snapshot = orjson.loads(reply)
        if recorded.clock_minute < 0:
            return []
        todo = candidates(compiled, recorded.changed, snapshot["firing"] or [])
        if not todo:
            return []
        minutes = evaluation_minutes(recorded.previous_clock_minute, recorded.clock_minute)
        history = History.parse(compiled, snapshot, todo)
        alerts: list[Alert] = []
        for candidate in todo:
            alerts += await self._step_through(candidate, minutes, history)
        return alerts

    async def _step_through(self, candidate: Candidate, minutes: list[int], history: History) -> list[Alert]:
        detector, entity = candidate.detector, candidate.entity
        raw_state = history.states[candidate]
        version = raw_state.get("version", "")
        state = SpikeState.from_dict({k: v for k, v in raw_state.items() if k != "version"})
        if state.first_seen is None:
            # The detector's start, which never changes: a state that only gains it needs no write.
            state = replace(state, first_seen=history.started[detector.id])
        start, decisions = state, []
        for minute in minutes:
            sources = sources_at(history.sources.get(entity, {}), minute, detector.window_minutes)
            decision = detector.step(
                state, detector.measure(history.counts.get(entity, {}), sources, to_seconds(minute))
            )
            state = decision.state
            if decision.action is not None:
                decisions.append(decision)
        if state == start:
            return []
        alerts = [await self._alert(detector, entity, decision) for decision in decisions]
        # Published before the state is written: a crash in between re-sends under the same alert ids
        # (deliveries are once per webhook-id) instead of losing the alert.
        if alerts and self.publish is not None:
            await self.publish(alerts)
        keys = [self._state_key(candidate), self.keys.spike_firing]
        member, firing = f"{detector.id}\t{entity}", "1" if state.firing else "0"
        if not await self._cas(keys=keys, args=[version, member, firing, *_flat(state, version)]):
            return []  # another worker moved this detector on first; its alerts carry the same ids
        return alerts

    async def _alert(self, detector: SpikeDetector, entity: str, decision: Decision) -> Alert:
        evidence: list[Evidence] = []
        if decision.action == "fire":
            recent = await self.client.lrange(self.keys.evidence(entity), 0, EVIDENCE_KEPT - 1)
            window_start = to_minutes(decision.measurement.window_start)
            evidence = pick_evidence(recent, window_start, window_start + detector.window_minutes - 1)
        return detector.alert(entity, decision, evidence)


@dataclass(frozen=True, slots=True)
class History:
    """What one evaluation reads: per-minute counts (keyed by minute start, seconds) and sources."""

    counts: dict[str, dict[int, int]]
    sources: dict[str, dict[int, set[str]]]
    states: dict[Candidate, dict[str, str]]
    started: dict[str, int] = field(default_factory=dict)  # detector id -> first evaluated (seconds)

    @classmethod
    def parse(
        cls, compiled: CompiledWatchlist, snapshot: Mapping[str, Any], todo: Sequence[Candidate]
    ) -> History:
        """From the spike section's reply (JSON; Lua's empty tables arrive as {}, nil values as false)."""
        entities: list[str] = snapshot["entities"]
        counts: dict[str, dict[int, int]] = {entity: {} for entity in entities}
        for offset, values in enumerate(snapshot["counts"]):
            for entity, value in zip(entities, values, strict=True):
                if value is not False:
                    counts[entity][to_seconds(snapshot["first"] + offset)] = int(value)
        sources: dict[str, dict[int, set[str]]] = {entity: {} for entity in entities}
        for offset, found in enumerate(snapshot["sources"]):
            for pair in found or ():
                entity, _, source = pair.partition("\t")
                sources[entity].setdefault(snapshot["source_from"] + offset, set()).add(source)
        read = {(spike_id, entity): flat or [] for spike_id, entity, flat in snapshot["states"]}
        states = {c: _pairs(read[c.detector.id, c.entity]) for c in todo}
        started = {d.id: int(v) for d, v in zip(compiled.spikes, snapshot["started"], strict=True) if v}
        return cls(counts, sources, states, started)


def spec(compiled: CompiledWatchlist, articles: Sequence[Counted], changed: Iterable[str] = ()) -> bytes:
    """The spike section's input (JSON): the detectors, and the evidence of articles that mention a
    watched entity (kept for the fresh ones only); `changed` for a call without counting."""
    evidence: list[list[Any]] = []
    for index, article, minute, names in articles:
        if names:
            entries = [(e, evidence_entry(article, minute, found).decode()) for e, found in names.items()]
            evidence.append([index, *(item for entry in entries for item in entry)])
    detectors = [_detector_spec(d) for d in compiled.spikes]
    data = {"detectors": detectors, "evidence": evidence, "changed": sorted(changed)}
    return orjson.dumps(data | {"kept": EVIDENCE_KEPT, "ttl": EVIDENCE_TTL, "max_steps": MAX_STEPS})


def _detector_spec(detector: SpikeDetector) -> dict[str, Any]:
    """What the spike section needs of a detector: which entities, and how many minutes it reads."""
    entities = "*" if detector.entities is None else sorted(detector.entities)
    return {
        "id": detector.id, "entities": entities, "span": detector.span_minutes, "window": detector.window_minutes,
    }  # fmt: skip


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def spike_watched(compiled: CompiledWatchlist, mentions: Iterable[str]) -> list[str]:
    """The mentioned entities that some spike detector watches (their articles are kept as evidence)."""
    return [e for e in mentions if any(d.applies_to(e) for d in compiled.spikes)]


def names_by_entity(matches: Iterable[Match], entities: Iterable[str]) -> dict[str, list[str]]:
    """The names matched for each of `entities`, sorted, from an article's matches."""
    names: dict[str, set[str]] = {entity: set() for entity in entities}
    for match in matches:
        if match.entity in names:
            names[match.entity].add(match.name)
    return {entity: sorted(found) for entity, found in names.items()}


def _flat(state: SpikeState, version: str) -> list[str]:
    fields = [item for pair in state.to_dict().items() for item in pair]
    return [*fields, "version", str(int(version or 0) + 1)]
