"""Spike detector math per entity on the stream clock: measure windows, decide fire/resolve, keep state."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from streams.model.alert import Alert, Evidence, Severity, spike_alert_id
from streams.model.minutes import MINUTE, minute_start, to_minutes
from streams.model.spec import SpecError, SpecId, format_duration, load_list_section, parse_duration
from streams.model.validation import describe_validation_error

MAX_BASELINE_SECONDS = 7 * 86400

Action = Literal["fire", "resolve"]


# --- spec ----------------------------------------------------------------------------------------------


def whole_seconds(text: str) -> int:
    """A duration that must be a whole number of seconds."""
    seconds = parse_duration(text)
    if seconds != int(seconds):
        raise ValueError(f"{text!r}: use whole seconds or more (s, m, h, d)")
    return int(seconds)


def window_seconds(text: str) -> int:
    """A window duration: at least one minute and a whole number of minutes (counts are per minute)."""
    seconds = whole_seconds(text)
    if seconds < MINUTE or seconds % MINUTE:
        raise ValueError(f"{text!r}: a window must be a whole number of minutes, at least 1m")
    return seconds


class SpikeSpec(BaseModel):
    """One entry of the watchlist's ``spikes`` section (see docs/watchlist.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SpecId
    entities: list[str] | Literal["*"]
    window: str = "5m"
    baseline: str | StrictInt = "1h"  # a duration (a whole number of windows) or a number of windows
    min_count: StrictInt = Field(default=5, ge=1)
    ratio: float = Field(default=3.0, ge=1.0)
    min_sources: StrictInt = Field(default=1, ge=1)
    warmup: str | None = None  # None = the baseline span plus one window
    cooldown: str = "30m"
    severity: Severity = "warning"
    description: str = ""
    webhooks: list[str] | None = None  # None = every receiver; [] = none

    @field_validator("window")
    @classmethod
    def _window_is_whole_minutes(cls, value: str) -> str:
        window_seconds(value)
        return value

    @field_validator("warmup", "cooldown")
    @classmethod
    def _whole_seconds(cls, value: str | None) -> str | None:
        if value is not None:
            whole_seconds(value)
        return value

    @field_validator("entities", mode="before")
    @classmethod
    def _list_or_star(cls, value: Any) -> Any:
        # Checked before the union so that a bad value gets one plain message, not one per variant.
        if value == "*" or (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            return value
        raise ValueError('write a non-empty list of entity ids, or "*" for all entities')


def baseline_windows(baseline: str | int, window: int) -> int:
    """How many earlier windows the baseline spans."""
    if isinstance(baseline, int):
        windows = baseline
    else:
        span = whole_seconds(baseline)
        if span % window:
            raise ValueError(
                f"baseline {baseline!r} is not a whole number of windows ({format_duration(window)})"
            )
        windows = span // window
    if windows < 1:
        raise ValueError("baseline must span at least one window")
    if windows * window > MAX_BASELINE_SECONDS:
        raise ValueError(f"baseline spans more than {format_duration(MAX_BASELINE_SECONDS)}")
    return windows


# --- state ---------------------------------------------------------------------------------------------

_STATE_FIELDS = ("first_seen", "firing", "since", "last_fired")


@dataclass(frozen=True, slots=True)
class SpikeState:
    """What one detector remembers about one entity; lives in a Redis hash so any worker can take over.

    ``first_seen``: stream time the detector started watching (warm-up origin; seeded on the first
    ``step`` unless the caller sets it, e.g. to the stream's first event time).
    ``since``: window start of the current or last firing (part of both of its alert ids).
    ``last_fired``: stream time of the current or last firing (its ``starts_at``; cooldown origin).
    """

    first_seen: int | None = None
    firing: bool = False
    since: int | None = None
    last_fired: int | None = None

    def to_dict(self) -> dict[str, str]:
        """Redis hash fields; ``""`` stands for None."""
        return {
            "first_seen": _int_text(self.first_seen),
            "firing": "1" if self.firing else "0",
            "since": _int_text(self.since),
            "last_fired": _int_text(self.last_fired),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str] | Mapping[bytes, bytes]) -> SpikeState:
        """Inverse of ``to_dict``; accepts redis-py's bytes too; an empty hash is a fresh state."""
        text = {_text(key): _text(value) for key, value in data.items()}
        unknown = set(text) - set(_STATE_FIELDS)
        if unknown:
            raise ValueError(f"unknown spike state fields: {sorted(unknown)}")
        firing = text.get("firing", "0")
        if firing not in ("0", "1"):
            raise ValueError(f"spike state field firing must be 0 or 1, not {firing!r}")
        return cls(
            first_seen=_int_or_none(text, "first_seen"),
            firing=firing == "1",
            since=_int_or_none(text, "since"),
            last_fired=_int_or_none(text, "last_fired"),
        )


def _int_text(value: int | None) -> str:
    return "" if value is None else str(value)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _int_or_none(text: Mapping[str, str], key: str) -> int | None:
    value = text.get(key, "")
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"spike state field {key} must be an integer, not {value!r}") from None


# --- measuring and deciding ----------------------------------------------------------------------------


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


# --- loading -------------------------------------------------------------------------------------------


class SpikeError(SpecError):
    """A bad entry in the ``spikes`` section."""


def compile_spike(spec: SpikeSpec, entities: Collection[str], receivers: Collection[str]) -> SpikeDetector:
    """Check references and convert durations; raises ValueError without the entry name."""
    window = window_seconds(spec.window)
    windows = baseline_windows(spec.baseline, window)
    for entity in () if spec.entities == "*" else spec.entities:
        if entity not in entities:
            raise ValueError(f"unknown entity {entity!r}")
    for name in spec.webhooks or ():
        if name not in receivers:
            raise ValueError(f"unknown webhook receiver {name!r} (not in the webhooks section)")
    return SpikeDetector(
        id=spec.id,
        entities=None if spec.entities == "*" else frozenset(spec.entities),
        window=window,
        baseline_windows=windows,
        min_count=spec.min_count,
        ratio=spec.ratio,
        min_sources=spec.min_sources,
        warmup=window * (windows + 1) if spec.warmup is None else whole_seconds(spec.warmup),
        cooldown=whole_seconds(spec.cooldown),
        severity=spec.severity,
        description=spec.description,
        receivers=tuple(sorted(receivers)) if spec.webhooks is None else tuple(spec.webhooks),
    )


def load_spikes(
    raw: Sequence[Any], entities: Collection[str], receivers: Collection[str]
) -> tuple[SpikeDetector, ...]:
    """Validate and compile the ``spikes`` section; raises SpikeError naming the entry and the problem."""
    return load_list_section(
        raw,
        "spikes",
        "spike detectors",
        SpikeError,
        lambda label, item: _load_spike(label, item, entities, receivers),
    )


def _load_spike(
    label: str, item: Any, entities: Collection[str], receivers: Collection[str]
) -> SpikeDetector:
    if not isinstance(item, Mapping):
        raise SpikeError(label, "must be a mapping with id and entities")
    try:
        spec = SpikeSpec.model_validate(item)
        return compile_spike(spec, entities, receivers)
    except ValidationError as exc:
        raise SpikeError(label, describe_validation_error(exc)) from None
    except ValueError as exc:
        raise SpikeError(label, str(exc)) from None
