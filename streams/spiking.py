"""Spike evaluation on the stream clock: Redis windows in, `streams.spikes` decisions, state by compare-and-set."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import redis.asyncio as aioredis

from streams.alerts import Alert, Evidence
from streams.article import Article
from streams.counting import Recorded
from streams.engine import Engine
from streams.matcher import Matcher
from streams.spikes import Decision, SpikeDetector, SpikeState

MAX_EVIDENCE = 5
EVIDENCE_KEPT = 200  # recent articles remembered per entity (by arrival, so keep enough for a replay)
EVIDENCE_TTL = 2 * 86400  # seconds; as long as the minute buckets the counts come from
MAX_STEPS = 1440  # minutes of clock movement evaluated in one call; older ones are skipped
Tagged = tuple[Article, int, Mapping[str, int]]  # an article, its event minute and its mentions

# Write a detector's state only if nobody else changed it since we read it (two workers, one entity).
_CAS_LUA = """
local current = redis.call('HGET', KEYS[1], 'version') or ''
if current ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""


@dataclass(frozen=True, slots=True)
class Candidate:
    detector: SpikeDetector
    entity: str


def candidates(engine: Engine, mentioned: Iterable[str], firing: Iterable[str]) -> list[Candidate]:
    """Detector/entity pairs to evaluate: entities just mentioned, and every pair currently firing."""
    by_id = {detector.id: detector for detector in engine.spikes}
    pairs = {(d.id, e) for e in set(mentioned) for d in engine.spikes if d.applies_to(e)}
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
    before it records the new detector state, and returns the alerts it raised."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        publish: Callable[[list[Alert]], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.publish = publish
        self._cas = client.register_script(_CAS_LUA)

    def _state_key(self, candidate: Candidate) -> str:
        return f"{self.prefix}spike:{candidate.detector.id}:{candidate.entity}"

    async def remember(
        self, engine: Engine, clock_minute: int, articles: Sequence[Tagged]
    ) -> tuple[list[str], dict[str, int]]:
        """Keep recent articles of spike-watched entities as evidence; returns the firing pairs and
        when each detector started (warm-up runs from a detector's first evaluation, not per entity,
        so a name that appears for the first time can still raise an alert)."""
        firing_key = f"{self.prefix}spike:firing"
        async with self.client.pipeline(transaction=False) as pipe:
            for article, minute, mentions in articles:
                watched = [e for e in mentions if any(d.applies_to(e) for d in engine.spikes)]
                if not watched:
                    continue
                names = _names_by_entity(engine.matcher, article)
                for entity in watched:
                    key = f"{self.prefix}ev:{entity}"
                    pipe.lpush(key, evidence_entry(article, minute, names.get(entity, [])))
                    pipe.ltrim(key, 0, EVIDENCE_KEPT - 1)
                    pipe.expire(key, EVIDENCE_TTL)
            for detector in engine.spikes:
                if clock_minute >= 0:
                    pipe.set(f"{self.prefix}spike:{detector.id}:started", clock_minute * 60, nx=True)
            for detector in engine.spikes:
                pipe.get(f"{self.prefix}spike:{detector.id}:started")
            pipe.smembers(firing_key)
            replies = await pipe.execute()
        started_replies = replies[-1 - len(engine.spikes) : -1]
        started = {d.id: int(v) for d, v in zip(engine.spikes, started_replies, strict=True) if v is not None}
        return [_text(m) for m in replies[-1]], started

    async def evaluate(self, engine: Engine, recorded: Recorded, articles: Sequence[Tagged]) -> list[Alert]:
        """Spike alerts for every minute the clock passed; `articles` are this batch's fresh ones."""
        if not engine.spikes:
            return []
        # Evidence is kept even before the clock starts (while partitions are still reporting).
        firing, started = await self.remember(engine, recorded.clock_minute, articles)
        if recorded.clock_minute < 0:
            return []
        todo = candidates(engine, recorded.changed, firing)
        if not todo:
            return []
        minutes = evaluation_minutes(recorded.previous_clock_minute, recorded.clock_minute)
        history = replace(await self._history(todo, minutes), started=started)
        alerts: list[Alert] = []
        for candidate in todo:
            alerts += await self._step_through(candidate, minutes, history)
        return alerts

    async def _history(self, todo: list[Candidate], minutes: list[int]) -> History:
        """Per-minute counts and sources of the candidate entities, and their detector states: one round trip."""
        entities = sorted({c.entity for c in todo})
        span = max(c.detector.window * (c.detector.baseline_windows + 1) for c in todo) // 60
        widest = max(c.detector.window for c in todo) // 60
        first, last = minutes[0] - span + 1, minutes[-1]
        source_from = minutes[0] - widest + 1
        async with self.client.pipeline(transaction=False) as pipe:
            for minute in range(first, last + 1):
                pipe.hmget(f"{self.prefix}m:{minute}", entities)
            for minute in range(source_from, last + 1):
                pipe.hgetall(f"{self.prefix}ms:{minute}")
            for candidate in todo:
                pipe.hgetall(self._state_key(candidate))
            replies = await pipe.execute()
        counts_end = last - first + 1
        sources_end = counts_end + last - source_from + 1
        return History.parse(
            entities, first, replies[:counts_end], source_from, replies[counts_end:sources_end],
            todo, replies[sources_end:],
        )  # fmt: skip

    async def _step_through(self, candidate: Candidate, minutes: list[int], history: History) -> list[Alert]:
        detector, entity = candidate.detector, candidate.entity
        raw_state = history.states[candidate]
        version = _text(raw_state.get(b"version", raw_state.get("version", b"")))
        start = SpikeState.from_dict({k: v for k, v in raw_state.items() if _text(k) != "version"})
        state, decisions = start, []
        if state.first_seen is None:
            state = replace(state, first_seen=history.started[detector.id])
        for minute in minutes:
            sources = sources_at(history.sources.get(entity, {}), minute, detector.window // 60)
            decision = detector.step(
                state, detector.measure(history.counts.get(entity, {}), sources, minute * 60)
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
        claimed = await self._cas(keys=[self._state_key(candidate)], args=[version, *_flat(state, version)])
        if not claimed:
            return []  # another worker moved this detector on first; its alerts carry the same ids
        member = f"{detector.id}\t{entity}"
        if state.firing:
            await self.client.sadd(f"{self.prefix}spike:firing", member)
        else:
            await self.client.srem(f"{self.prefix}spike:firing", member)
        return alerts

    async def _alert(self, detector: SpikeDetector, entity: str, decision: Decision) -> Alert:
        evidence: list[Evidence] = []
        if decision.action == "fire":
            recent = await self.client.lrange(f"{self.prefix}ev:{entity}", 0, EVIDENCE_KEPT - 1)
            window_start = decision.measurement.window_start // 60
            evidence = pick_evidence(recent, window_start, window_start + detector.window // 60 - 1)
        return detector.alert(entity, decision, evidence)


@dataclass(frozen=True, slots=True)
class History:
    """What one evaluation reads: per-minute counts (keyed by minute start, seconds) and sources."""

    counts: dict[str, dict[int, int]]
    sources: dict[str, dict[int, set[str]]]
    states: dict[Candidate, dict[Any, Any]]
    started: dict[str, int] = field(default_factory=dict)  # detector id -> first evaluated (seconds)

    @classmethod
    def parse(
        cls,
        entities: list[str],
        first: int,
        count_replies: Sequence[Sequence[Any]],
        source_from: int,
        source_replies: Sequence[Mapping[Any, Any]],
        todo: Sequence[Candidate],
        state_replies: Sequence[dict[Any, Any]],
    ) -> History:
        counts: dict[str, dict[int, int]] = {entity: {} for entity in entities}
        for offset, values in enumerate(count_replies):
            for entity, value in zip(entities, values, strict=True):
                if value is not None:
                    counts[entity][(first + offset) * 60] = int(value)
        wanted = set(entities)
        sources: dict[str, dict[int, set[str]]] = {entity: {} for entity in entities}
        for offset, pairs in enumerate(source_replies):
            for pair in pairs:
                entity, _, source = _text(pair).partition("\t")
                if entity in wanted:
                    sources[entity].setdefault(source_from + offset, set()).add(source)
        return cls(counts, sources, dict(zip(todo, state_replies, strict=True)))


def _names_by_entity(matcher: Matcher, article: Article) -> dict[str, list[str]]:
    names: dict[str, set[str]] = {}
    for match in matcher.find(article.title, article.body):
        names.setdefault(match.entity, set()).add(match.name)
    return {entity: sorted(found) for entity, found in names.items()}


def _flat(state: SpikeState, version: str) -> list[str]:
    fields = [item for pair in state.to_dict().items() for item in pair]
    return [*fields, "version", str(int(version or 0) + 1)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
