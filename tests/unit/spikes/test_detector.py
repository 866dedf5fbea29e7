"""Spike detector: windows on the stream clock, fire/resolve decisions, warm-up, cooldown, state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from streams.model.alert import Evidence, spike_alert_id
from streams.model.minutes import minute_start
from streams.spikes.detector import Measurement, SpikeDetector, smoothed_baseline
from streams.spikes.spec import SpikeError, SpikeSpec, compile_spike, load_spikes
from streams.spikes.state import SpikeState

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, a minute (and hour) boundary
ENTITIES = {"isis", "mosul"}


def detector(**overrides: object) -> SpikeDetector:
    spec = {
        "id": "surge",
        "entities": ["isis"],
        "window": "5m",
        "baseline": "1h",
        "min_count": 5,
        "ratio": 3.0,
        "min_sources": 2,
        "warmup": "1h",
        "cooldown": "30m",
        **overrides,
    }
    return compile_spike(SpikeSpec.model_validate(spec), ENTITIES, {"ops"})


def measurement(count: int, baseline_count: int, *, now: int = T0 + 7200, sources: int = 3) -> Measurement:
    return Measurement(
        now=now,
        window_start=minute_start(now) - 240,
        count=count,
        baseline_count=baseline_count,
        sources=sources,
    )


WARM = SpikeState(first_seen=T0)


# --- spec ------------------------------------------------------------------------------------------


def test_compiled_spec_in_seconds() -> None:
    spike = detector()
    assert (spike.window, spike.baseline_windows, spike.warmup, spike.cooldown) == (300, 12, 3600, 1800)
    assert spike.receivers == ("ops",)
    assert spike.applies_to("isis") and not spike.applies_to("mosul")


def test_defaults() -> None:
    spike = compile_spike(SpikeSpec(id="all", entities="*"), ENTITIES, set())
    assert spike.entities is None and spike.applies_to("anything")
    assert (spike.window, spike.baseline_windows, spike.min_count, spike.ratio) == (300, 12, 5, 3.0)
    assert (spike.min_sources, spike.cooldown, spike.severity) == (1, 1800, "warning")
    assert spike.warmup == 300 * 13  # the baseline span plus one window


def test_baseline_as_number_of_windows() -> None:
    assert detector(baseline=6).baseline_windows == 6


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"window": "90s"}, "a window must be a whole number of minutes"),
        ({"window": "5 minutes"}, "bad duration '5 minutes'"),
        ({"baseline": "7m"}, "baseline '7m' is not a whole number of windows (5m)"),
        ({"baseline": 0}, "baseline must span at least one window"),
        ({"baseline": "30d"}, "baseline spans more than 7d"),
        ({"cooldown": "1500ms"}, "use whole seconds"),
        ({"entities": ["isis", "mosull"]}, "unknown entity 'mosull'"),
        ({"entities": []}, 'write a non-empty list of entity ids, or "*"'),
        ({"entities": "isis"}, 'entities: Value error, write a non-empty list of entity ids, or "*"'),
        ({"webhooks": ["pager"]}, "unknown webhook receiver 'pager'"),
        ({"ratio": 0.5}, "ratio: Input should be greater than or equal to 1"),
        ({"min_count": "5"}, "min_count: Input should be a valid integer"),
        ({"treshold": 3}, "unknown key 'treshold'"),
    ],
)
def test_bad_specs_name_entry_and_problem(overrides: dict[str, object], problem: str) -> None:
    raw = [{"id": "ok", "entities": "*"}, {"id": "surge", "entities": ["isis"], **overrides}]
    with pytest.raises(SpikeError) as caught:
        load_spikes(raw, ENTITIES, {"ops"})
    assert str(caught.value).startswith("spikes[1] (id 'surge'): ")
    assert problem in str(caught.value)


def test_missing_keys_and_duplicates() -> None:
    with pytest.raises(SpikeError, match=r"^spikes\[0\] \(id 'x'\): missing required key 'entities'$"):
        load_spikes([{"id": "x"}], ENTITIES, set())
    with pytest.raises(SpikeError, match=r"^spikes\[1\] \(id 'x'\): duplicate id \(also spikes\[0\]\)$"):
        load_spikes([{"id": "x", "entities": "*"}, {"id": "x", "entities": "*"}], ENTITIES, set())


# --- measuring -------------------------------------------------------------------------------------


def test_measure_window_and_baseline_bounds() -> None:
    spike = detector()
    now = T0 + 3600 + 299  # inside minute T0+3840; window = minutes T0+3600 … T0+3840
    per_minute = {
        T0 - 60: 100,  # before the baseline: ignored
        T0: 4,  # first baseline minute
        T0 + 3540: 7,  # last baseline minute
        T0 + 3600: 2,  # first window minute
        T0 + 3840: 3,  # current minute
        T0 + 3900: 50,  # after the stream clock: ignored
    }
    measured = spike.measure(per_minute, sources=2, now=now)
    assert measured == Measurement(now=now, window_start=T0 + 3600, count=5, baseline_count=11, sources=2)


def test_smoothed_baseline() -> None:
    assert smoothed_baseline(11, 12) == 1.0
    assert smoothed_baseline(0, 12) == 1 / 12


# --- deciding --------------------------------------------------------------------------------------


def test_fires_with_exact_numbers() -> None:
    decision = detector().step(WARM, measurement(count=6, baseline_count=11))
    assert decision.action == "fire"
    assert (decision.baseline, decision.ratio) == (1.0, 6.0)
    assert decision.state == SpikeState(first_seen=T0, firing=True, since=T0 + 6960, last_fired=T0 + 7200)


def test_zero_baseline_gives_finite_ratio() -> None:
    decision = detector().step(WARM, measurement(count=5, baseline_count=0))
    assert decision.action == "fire"
    assert decision.ratio == 60.0


@pytest.mark.parametrize(("baseline_count", "action"), [(23, "fire"), (24, None)])
def test_ratio_threshold_is_inclusive(baseline_count: int, action: str | None) -> None:
    # 23 → baseline 2.0, ratio 3.0 (fires); 24 → baseline 25/12, ratio 2.88 (does not)
    decision = detector().step(WARM, measurement(count=6, baseline_count=baseline_count))
    assert decision.action == action


@pytest.mark.parametrize(
    ("count", "sources", "reason"),
    [
        (4, 3, "count 4 < min_count 5"),
        (5, 1, "sources 1 < min_sources 2"),
        (5, 2, ""),
    ],
)
def test_min_count_and_min_sources(count: int, sources: int, reason: str) -> None:
    decision = detector().step(WARM, measurement(count=count, baseline_count=0, sources=sources))
    assert decision.action == (None if reason else "fire")
    assert decision.reason == (reason or "fired")


def test_warmup_boundary() -> None:
    spike, now = detector(), T0 + 7200
    early = spike.step(SpikeState(first_seen=now - 3599), measurement(6, 0, now=now))
    assert (early.action, early.reason) == (None, f"warming up until {now + 1}")
    on_time = spike.step(SpikeState(first_seen=now - 3600), measurement(6, 0, now=now))
    assert on_time.action == "fire"


def test_first_step_seeds_first_seen_and_starts_warmup() -> None:
    decision = detector().step(SpikeState(), measurement(50, 0, now=T0))
    assert decision.action is None
    assert decision.state.first_seen == T0
    assert decision.reason == f"warming up until {T0 + 3600}"


def test_stays_firing_then_resolves_on_ratio() -> None:
    spike = detector()
    fired = spike.step(WARM, measurement(6, 11)).state
    still = spike.step(fired, measurement(6, 11, now=T0 + 7260))
    assert (still.action, still.reason, still.state) == (None, "still firing", fired)
    resolved = spike.step(fired, measurement(5, 11, now=T0 + 7320))  # ratio 5.0 ≥ 3 …
    assert resolved.action is None
    resolved = spike.step(fired, measurement(5, 23, now=T0 + 7320))  # … ratio 2.5 < 3
    assert resolved.action == "resolve"
    assert resolved.state == replace(fired, firing=False)


def test_resolves_when_count_drops_below_min_despite_ratio() -> None:
    spike = detector()
    fired = spike.step(WARM, measurement(6, 0)).state
    decision = spike.step(fired, measurement(4, 0, now=T0 + 7260))  # ratio 48 but count 4 < 5
    assert decision.action == "resolve"


def test_cooldown_suppresses_refiring() -> None:
    spike = detector()
    fired = spike.step(WARM, measurement(6, 0)).state
    resolved = spike.step(fired, measurement(0, 0, now=T0 + 7800)).state
    blocked = spike.step(resolved, measurement(6, 0, now=T0 + 7200 + 1799))
    assert (blocked.action, blocked.reason) == (None, f"cooling down until {T0 + 9000}")
    refired = spike.step(resolved, measurement(6, 0, now=T0 + 9000))
    assert refired.action == "fire"
    assert (refired.state.since, refired.state.last_fired) == (T0 + 9000 - 240, T0 + 9000)


def test_replay_backtest_fires_and_resolves_at_the_expected_minutes() -> None:
    """One mention a minute for 2 h, then ten a minute for 10 min, then one a minute again."""
    spike = detector(min_sources=1)
    per_minute = {T0 + 60 * i: 1 for i in range(240)}
    for i in range(120, 130):
        per_minute[T0 + 60 * i] = 10
    state, events = SpikeState(), []
    for i in range(240):
        now = T0 + 60 * i + 30
        decision = spike.step(state, spike.measure(per_minute, sources=1, now=now))
        state = decision.state
        if decision.action:
            events.append((decision.action, now - T0, decision.measurement.count, round(decision.ratio, 4)))
    assert events == [
        ("fire", 7290, 23, round(23 / (61 / 12), 4)),  # 4.5246
        ("resolve", 7950, 23, round(23 / (133 / 12), 4)),  # 2.0752
    ]


# --- alerts ----------------------------------------------------------------------------------------


def test_fire_and_resolve_alerts_share_window_and_start() -> None:
    spike = detector(severity="critical", description="ISIS surge")
    fire = spike.step(WARM, measurement(6, 11))
    resolve = spike.step(fire.state, measurement(0, 11, now=T0 + 7500))
    evidence = [
        Evidence(article_id="a1", title="t", url="u", source="s", published_at=None, matched_names=["ISIS"])
    ]
    firing, resolved = spike.alert("isis", fire, evidence), spike.alert("isis", resolve)
    assert firing.id == spike_alert_id("surge", "isis", T0 + 6960, "firing")
    assert resolved.id == spike_alert_id("surge", "isis", T0 + 6960, "resolved")
    assert firing.id != resolved.id
    assert firing.starts_at == resolved.starts_at == datetime.fromtimestamp(T0 + 7200, UTC)
    assert (firing.ends_at, resolved.ends_at) == (None, datetime.fromtimestamp(T0 + 7500, UTC))
    assert (firing.count, firing.baseline, firing.ratio, firing.window) == (6, 1.0, 6.0, "5m")
    assert (firing.severity, firing.description, firing.receivers) == ("critical", "ISIS surge", ["ops"])
    assert firing.evidence == evidence and resolved.evidence == []


def test_no_alert_without_action() -> None:
    with pytest.raises(ValueError, match="only a fire or resolve decision"):
        detector().alert("isis", detector().step(WARM, measurement(0, 0)))


# --- state serialization ---------------------------------------------------------------------------


def test_state_round_trips_through_a_redis_hash() -> None:
    state = SpikeState(first_seen=T0, firing=True, since=T0 + 60, last_fired=T0 + 300)
    data = state.to_dict()
    assert data == {"first_seen": str(T0), "firing": "1", "since": str(T0 + 60), "last_fired": str(T0 + 300)}
    assert SpikeState.from_dict(data) == state
    assert SpikeState.from_dict({k.encode(): v.encode() for k, v in data.items()}) == state
    assert SpikeState().to_dict() == {"first_seen": "", "firing": "0", "since": "", "last_fired": ""}
    assert SpikeState.from_dict({}) == SpikeState()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"firing": "yes"}, "firing must be 0 or 1"),
        ({"since": "soon"}, "since must be an integer"),
        ({"colour": "red"}, "unknown spike state fields: ['colour']"),
    ],
)
def test_bad_state_is_rejected(data: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        SpikeState.from_dict(data)
