"""The watchlist's spikes section: SpikeSpec entries, checked and compiled into SpikeDetectors."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from streams.model.alert import Severity
from streams.model.minutes import MINUTE
from streams.model.spec import (
    SpecError,
    SpecId,
    format_duration,
    load_entry,
    load_list_section,
    parse_duration,
)
from streams.spikes.detector import Measure, SpikeDetector

MAX_BASELINE_SECONDS = 7 * 86400


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
    # Count mentions (the default, as before stories) or distinct stories: copies count once.
    measure: Measure = "mentions"

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
        measures=spec.measure,
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
    return load_entry(
        label,
        item,
        SpikeSpec,
        lambda spec: compile_spike(spec, entities, receivers),
        SpikeError,
        "id and entities",
    )
