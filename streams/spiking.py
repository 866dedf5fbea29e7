"""Spike evaluation on the stream clock: Redis windows in, `streams.spikes` decisions, state by compare-and-set."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from streams.alerts import Alert, Evidence
from streams.article import Article
from streams.engine import Engine, spike_windows
from streams.matcher import Matcher
from streams.spikes import Measurement, SpikeDetector, SpikeState

MAX_EVIDENCE = 5
Tagged = tuple[Article, Mapping[str, int]]  # an article and its mentions

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


def measurement(
    detector: SpikeDetector, now: int, window: int, window_and_baseline: int, sources: int
) -> Measurement:
    """A Measurement from the sliding-window counts Redis keeps (see streams.counting)."""
    return Measurement(
        now=now,
        window_start=(now // 60 * 60) - detector.window + 60,
        count=window,
        baseline_count=max(0, window_and_baseline - window),
        sources=sources,
    )


def evidence_for(entity: str, articles: Sequence[Tagged], matcher: Matcher) -> list[Evidence]:
    """Up to MAX_EVIDENCE articles of the batch that mention the entity, with the names matched."""
    chosen = [article for article, mentions in articles if entity in mentions][:MAX_EVIDENCE]
    return [Evidence.from_article(a, _names(matcher, a, entity)) for a in chosen]


def _names(matcher: Matcher, article: Article, entity: str) -> list[str]:
    return sorted({m.name for m in matcher.find(article.title, article.body) if m.entity == entity})


class SpikeStep:
    """Evaluates candidates after each counted batch and returns the alerts to publish."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._cas = client.register_script(_CAS_LUA)

    def _state_key(self, candidate: Candidate) -> str:
        return f"{self.prefix}spike:{candidate.detector.id}:{candidate.entity}"

    async def evaluate(
        self,
        engine: Engine,
        clock_minute: int,
        articles: Sequence[Tagged],
    ) -> list[Alert]:
        if not engine.spikes or clock_minute < 0:
            return []
        firing_key = f"{self.prefix}spike:firing"
        firing = [m.decode() if isinstance(m, bytes) else m for m in await self.client.smembers(firing_key)]
        mentioned = {entity for _, mentions in articles for entity in mentions}
        todo = candidates(engine, mentioned, firing)
        if not todo:
            return []
        readings = await self._read(todo)
        now = clock_minute * 60
        alerts: list[Alert] = []
        async with self.client.pipeline(transaction=False) as pipe:
            for candidate, (counts, raw_state) in zip(todo, readings, strict=True):
                alert = await self._decide(pipe, engine, candidate, now, counts, raw_state, articles)
                if alert is not None:
                    alerts.append(alert)
            await pipe.execute()
        return alerts

    async def _read(self, todo: list[Candidate]) -> list[tuple[tuple[int, int, int], dict[Any, Any]]]:
        async with self.client.pipeline(transaction=False) as pipe:
            for candidate in todo:
                window, wide = spike_windows(candidate.detector)
                pipe.hget(f"{self.prefix}w:{window}", candidate.entity)
                pipe.hget(f"{self.prefix}w:{wide}", candidate.entity)
                pipe.hget(f"{self.prefix}wd:{window}", candidate.entity)
                pipe.hgetall(self._state_key(candidate))
            raw = await pipe.execute()
        out = []
        for i in range(len(todo)):
            count, wide, sources, state = raw[4 * i : 4 * i + 4]
            out.append(((int(count or 0), int(wide or 0), int(sources or 0)), state))
        return out

    async def _decide(
        self,
        pipe: Any,
        engine: Engine,
        candidate: Candidate,
        now: int,
        counts: tuple[int, int, int],
        raw_state: dict[Any, Any],
        articles: Sequence[Tagged],
    ) -> Alert | None:
        detector, entity = candidate.detector, candidate.entity
        version = _text(raw_state.get(b"version", raw_state.get("version", b"")))
        state = SpikeState.from_dict({k: v for k, v in raw_state.items() if _text(k) != "version"})
        decision = detector.step(state, measurement(detector, now, *counts))
        if decision.state == state:
            return None
        claimed = await self._cas(
            keys=[self._state_key(candidate)], args=[version, *_flat(decision.state, version)]
        )
        if not claimed or decision.action is None:
            return None  # another worker moved this detector on first; it publishes the alert
        member = f"{detector.id}\t{entity}"
        firing_key = f"{self.prefix}spike:firing"
        if decision.action == "fire":
            pipe.sadd(firing_key, member)
        else:
            pipe.srem(firing_key, member)
        evidence = evidence_for(entity, articles, engine.matcher) if decision.action == "fire" else []
        return detector.alert(entity, decision, evidence)


def _flat(state: SpikeState, version: str) -> list[str]:
    fields = [item for pair in state.to_dict().items() for item in pair]
    return [*fields, "version", str(int(version or 0) + 1)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
