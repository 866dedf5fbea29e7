"""Spike evaluation on the stream clock: the spike section's reply in, detector decisions, state by compare-and-set."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import orjson
import redis.asyncio as aioredis

from streams.model.alert import Alert, Evidence
from streams.model.minutes import to_minutes, to_seconds
from streams.spikes.detector import Decision, SpikeDetector
from streams.spikes.evidence import EVIDENCE_KEPT, pick_evidence
from streams.spikes.plan import (
    Candidate,
    Counted,
    History,
    candidates,
    evaluation_minutes,
    section_spec,
    sources_at,
)
from streams.spikes.state import SpikeState
from streams.store import scripts
from streams.store.counts import Recorded
from streams.store.keys import RedisKeys
from streams.watchlist.compiled import CompiledWatchlist


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
        *,
        evidence_ttl: int,
        publish: Callable[[list[Alert]], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self.evidence_ttl = evidence_ttl  # seconds: as long as the minute buckets the counts come from
        self.publish = publish
        self._cas = client.register_script(scripts.SPIKE_CAS)

    def _state_key(self, candidate: Candidate) -> str:
        return self.keys.spike_state(candidate.detector.id, candidate.entity)

    def request(self, compiled: CompiledWatchlist, articles: Sequence[Counted]) -> bytes | None:
        """The spike section of a counting call, None without detectors (see `section_spec`)."""
        return section_spec(compiled.spikes, articles, self.evidence_ttl) if compiled.spikes else None

    async def evaluate(self, compiled: CompiledWatchlist, recorded: Recorded) -> list[Alert]:
        """Spike alerts for every minute the clock passed, from the spike section's reply that rode on
        the counting call (`recorded.spikes`; None when the call carried no spike section)."""
        reply = recorded.spikes
        if not compiled.spikes or reply is None:
            return []
        snapshot = orjson.loads(reply)
        if recorded.clock_minute < 0:
            return []
        todo = candidates(compiled.spikes, recorded.changed, snapshot["firing"] or [])
        if not todo:
            return []
        minutes = evaluation_minutes(recorded.previous_clock_minute, recorded.clock_minute)
        history = History.parse(compiled.spikes, snapshot, todo)
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
            sources = sources_at(history.sources_for(detector, entity), minute, detector.window_minutes)
            decision = detector.step(
                state, detector.measure(history.counts_for(detector, entity), sources, to_seconds(minute))
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


def _flat(state: SpikeState, version: str) -> list[str]:
    fields = [item for pair in state.to_dict().items() for item in pair]
    return [*fields, "version", str(int(version or 0) + 1)]
