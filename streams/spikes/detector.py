"""Spike detector math per entity on the stream clock: measure the windows, decide fire or resolve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from streams.model.alert import Alert, Evidence, Severity, spike_alert_id
from streams.model.minutes import MINUTE, minute_start, to_minutes
from streams.model.spec import format_duration
from streams.spikes.state import SpikeState

Action = Literal["fire", "resolve"]
# What a detector counts per minute: mentions, or distinct stories (docs/stories.md "Story windows").
Measure = Literal["stories", "mentions"]


def sum_minutes(per_minute: Mapping[int, int], start: int, end: int) -> int:
    """Total of the per-minute counts for minutes in ``[start, end)``."""
    return sum(per_minute.get(minute, 0) for minute in range(start, end, MINUTE))


def smoothed_baseline(baseline_count: int, windows: int) -> float:
    """Mean count per window over ``windows`` earlier windows, with one pseudo-count over the span."""
    return (baseline_count + 1) / windows


@dataclass(frozen=True, slots=True)
class Measurement:
    """Counts for one entity at one stream time."""

    now: int
    window_start: int
    count: int
    baseline_count: int
    sources: int


@dataclass(frozen=True, slots=True)
class Decision:
    """What ``step`` decided: ``action`` (None = nothing to send), the new state, and why."""

    action: Action | None
    state: SpikeState
    measurement: Measurement
    baseline: float
    ratio: float
    reason: str


@dataclass(frozen=True, slots=True)
class SpikeDetector:
    """A validated spike spec with durations in seconds; build with ``compile_spike``.

    Time is the stream clock (newest event time, unix seconds), never the wall clock, so a replay of
    old articles raises the alerts that would have fired then. Counts come per minute, keyed by the
    minute's start (unix seconds, a multiple of 60).

    For stream time ``now`` in minute ``M`` (its start), a detector with window ``W`` and ``B`` baseline
    windows looks at:

    * the current window: the ``W/60`` minutes ending with ``M`` (``window_start = M - W + 60``);
    * the baseline: the ``B`` windows just before it, ``[window_start - B·W, window_start)``.

    ``baseline = (baseline_count + 1) / B`` is the mean count per window over the earlier windows with
    one pseudo-count added to the whole baseline span, so that an entity never seen before has a small
    finite baseline (``1/B``) instead of zero, and ``ratio = count / baseline``.

    With ``measures == "stories"`` the counts are distinct stories (a story counts once per entity, in
    the minute of its first copy mentioning it) and the sources are those of the stories' first
    copies, so N copies of one story on N sites are one story from one source.

    A detector that is not firing fires when, all at once: ``count ≥ min_count``, distinct sources in
    the window ``≥ min_sources``, ``ratio ≥ ratio threshold``, the warm-up is over
    (``now ≥ first_seen + warmup``) and the cooldown is over (``now ≥ last_fired + cooldown``). A
    firing detector resolves as soon as ``ratio`` drops below the threshold or ``count`` below
    ``min_count``; the caller must therefore also evaluate firing entities as the clock advances.
    """

    id: str
    entities: frozenset[str] | None  # None = every entity
    window: int
    baseline_windows: int
    min_count: int
    ratio: float
    min_sources: int
    warmup: int
    cooldown: int
    severity: Severity
    description: str
    receivers: tuple[str, ...]
    measures: Measure = "mentions"

    @property
    def window_minutes(self) -> int:
        return to_minutes(self.window)

    @property
    def span_minutes(self) -> int:
        """Minutes of per-minute counts one evaluation reads: the window and its baseline windows."""
        return to_minutes(self.window * (self.baseline_windows + 1))

    def applies_to(self, entity: str) -> bool:
        return self.entities is None or entity in self.entities

    def measure(self, per_minute: Mapping[int, int], sources: int, now: float) -> Measurement:
        """Window and baseline counts at stream time ``now`` from per-minute counts."""
        window_start = minute_start(now) - self.window + MINUTE
        baseline_start = window_start - self.window * self.baseline_windows
        return Measurement(
            now=int(now),
            window_start=window_start,
            count=sum_minutes(per_minute, window_start, window_start + self.window),
            baseline_count=sum_minutes(per_minute, baseline_start, window_start),
            sources=sources,
        )

    def step(self, state: SpikeState, measurement: Measurement) -> Decision:
        """Fire, resolve or do nothing; pure, so replaying the same inputs gives the same answer."""
        if state.first_seen is None:
            state = replace(state, first_seen=measurement.now)
        baseline = smoothed_baseline(measurement.baseline_count, self.baseline_windows)
        ratio = measurement.count / baseline
        if state.firing:
            return self._step_firing(state, measurement, baseline, ratio)
        blocker = self._fire_blocker(state, measurement, ratio)
        if blocker:
            return Decision(None, state, measurement, baseline, ratio, blocker)
        fired = replace(state, firing=True, since=measurement.window_start, last_fired=measurement.now)
        return Decision("fire", fired, measurement, baseline, ratio, "fired")

    def _step_firing(
        self, state: SpikeState, measurement: Measurement, baseline: float, ratio: float
    ) -> Decision:
        if measurement.count < self.min_count or ratio < self.ratio:
            return Decision("resolve", replace(state, firing=False), measurement, baseline, ratio, "resolved")
        return Decision(None, state, measurement, baseline, ratio, "still firing")

    def _fire_blocker(self, state: SpikeState, measurement: Measurement, ratio: float) -> str:
        """Why the detector must not fire now, or "" when it may."""
        if measurement.count < self.min_count:
            return f"count {measurement.count} < min_count {self.min_count}"
        if measurement.sources < self.min_sources:
            return f"sources {measurement.sources} < min_sources {self.min_sources}"
        if ratio < self.ratio:
            return f"ratio {ratio:.3f} < {self.ratio}"
        warm_at = (state.first_seen or 0) + self.warmup
        if measurement.now < warm_at:
            return f"warming up until {warm_at}"
        if state.last_fired is not None and measurement.now < state.last_fired + self.cooldown:
            return f"cooling down until {state.last_fired + self.cooldown}"
        return ""

    def alert(self, entity: str, decision: Decision, evidence: Sequence[Evidence] = ()) -> Alert:
        """The firing or resolved alert for a decision whose action is not None."""
        state = decision.state
        if decision.action is None or state.since is None or state.last_fired is None:
            raise ValueError("only a fire or resolve decision makes an alert")
        status: Literal["firing", "resolved"] = "firing" if decision.action == "fire" else "resolved"
        return Alert(
            id=spike_alert_id(self.id, entity, state.since, status),
            kind="spike",
            status=status,
            rule_id=self.id,
            entity=entity,
            severity=self.severity,
            description=self.description,
            starts_at=_utc(state.last_fired),
            ends_at=_utc(decision.measurement.now) if status == "resolved" else None,
            count=decision.measurement.count,
            baseline=decision.baseline,
            ratio=decision.ratio,
            window=format_duration(self.window),
            evidence=list(evidence),
            receivers=list(self.receivers),
        )


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
