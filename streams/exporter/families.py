"""From a Snapshot to Prometheus metric families (pure: the values every scrape exports)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.core import GaugeMetricFamily

from streams.exporter.view import WatchView
from streams.model.minutes import to_seconds
from streams.model.snapshot import Snapshot, top_entities
from streams.spikes.detector import SpikeDetector
from streams.spikes.state import SpikeState

TOP_WINDOW = 60  # minutes: "top entities" rank by mentions in the last hour of stream time
MAX_TOP = 100  # bounds the rank label


def window_label(minutes: int) -> str:
    """1 -> "1m", 60 -> "1h", 1440 -> "24h": the window label values."""
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def per_entity_minutes(minutes: Mapping[int, Mapping[str, int]]) -> dict[str, dict[int, int]]:
    """Invert minute -> entity -> count into entity -> minute start (unix seconds) -> count."""
    out: dict[str, dict[int, int]] = {}
    for minute, counts in minutes.items():
        for entity, count in counts.items():
            out.setdefault(entity, {})[to_seconds(minute)] = count
    return out


def spike_ratio(detector: SpikeDetector, per_minute: Mapping[int, int], clock_minute: int) -> float:
    """The ratio the detector itself computes at the stream clock (its measure and step, unchanged)."""
    measurement = detector.measure(per_minute, 0, to_seconds(clock_minute))
    return detector.step(SpikeState(first_seen=to_seconds(clock_minute)), measurement).ratio


def exported_entities(snapshot: Snapshot, view: WatchView) -> list[str]:
    """The watched entities with a mention in the longest window, and the `always` ones, in watchlist
    order: series grow with activity, not with the lexicon (a 200,000-entity watchlist is mostly quiet).
    A quiet entity's mention and source series are 0 and its spike ratio the quiet ratio: nothing is
    lost by leaving them out (Prometheus marks them stale; absent() and `or vector(0)` read them)."""
    longest = snapshot.windows.get(max(snapshot.windows), {}) if snapshot.windows else {}
    return [entity for entity in view.entities if longest.get(entity, 0) > 0 or entity in view.always]


def entity_families(snapshot: Snapshot, view: WatchView, entities: list[str]) -> list[GaugeMetricFamily]:
    """Mentions, distinct sources and distinct stories per exported entity and window; zero when
    absent from a window."""
    mentions = GaugeMetricFamily(
        "newsmon_entity_mentions_window",
        "Mentions of the entity in the sliding window ending at the stream clock",
        labels=["entity", "window"],
    )
    sources = GaugeMetricFamily(
        "newsmon_entity_sources_window",
        "Distinct sources mentioning the entity in the sliding window ending at the stream clock",
        labels=["entity", "window"],
    )
    stories = GaugeMetricFamily(
        "newsmon_entity_stories_window",
        "Distinct stories mentioning the entity in the sliding window ending at the stream clock (a story"
        " counts in the minute its first copy mentioning the entity arrived)",
        labels=["entity", "window"],
    )
    for window, counts in sorted(snapshot.windows.items()):
        label = window_label(window)
        distinct = snapshot.sources.get(window, {})
        story_counts = snapshot.stories.get(window, {})
        for entity in entities:
            mentions.add_metric([entity, label], counts.get(entity, 0))
            sources.add_metric([entity, label], distinct.get(entity, 0))
            stories.add_metric([entity, label], story_counts.get(entity, 0))
    return [mentions, sources, stories]


def top_family(snapshot: Snapshot, view: WatchView, n: int) -> GaugeMetricFamily:
    top = GaugeMetricFamily(
        "newsmon_top_entity_mentions",
        f"The top entities by mentions in the last {window_label(TOP_WINDOW)} of stream time (rank 1 = most)",
        labels=["rank", "entity"],
    )
    ranked = top_entities(snapshot.windows.get(TOP_WINDOW, {}), view.entities, n)
    for rank, (entity, count) in enumerate(ranked, start=1):
        top.add_metric([str(rank), entity], count)
    return top


def spike_families(snapshot: Snapshot, view: WatchView, entities: list[str]) -> list[GaugeMetricFamily]:
    """Current ratio and firing state per (detector, exported or firing entity), and each detector's
    threshold."""
    ratio = GaugeMetricFamily(
        "newsmon_spike_ratio",
        "Window count over the smoothed baseline, as the spike detector computes it at the stream clock",
        labels=["spike", "entity"],
    )
    firing = GaugeMetricFamily(
        "newsmon_spike_firing",
        "1 while the spike detector is firing for the entity",
        labels=["spike", "entity"],
    )
    threshold = GaugeMetricFamily(
        "newsmon_spike_threshold_ratio", "The ratio at which the spike detector fires", labels=["spike"]
    )
    per_minute = per_entity_minutes(snapshot.minutes)
    per_minute_stories = per_entity_minutes(snapshot.story_minutes)
    clock = snapshot.clock_minute
    # A firing detector stays visible until it resolves, even if its entity went quiet.
    quiet_firing = {entity for _, entity in snapshot.firing} - set(entities)
    entities = entities + [entity for entity in view.entities if entity in quiet_firing]
    for detector in view.spikes:
        measured = per_minute_stories if detector.measures == "stories" else per_minute
        threshold.add_metric([detector.id], detector.ratio)
        # Entities with no mention in the span all share one ratio: compute it once (large watchlists).
        quiet = spike_ratio(detector, {}, clock) if clock >= 0 else 0.0
        for entity in entities:
            if not detector.applies_to(entity):
                continue
            if clock >= 0:
                counts = measured.get(entity)
                ratio.add_metric(
                    [detector.id, entity], spike_ratio(detector, counts, clock) if counts else quiet
                )
            firing.add_metric([detector.id, entity], 1.0 if (detector.id, entity) in snapshot.firing else 0.0)
    return [ratio, firing, threshold]


def count_families(snapshot: Snapshot, view: WatchView, top_n: int) -> list[GaugeMetricFamily]:
    """Every family computed from a snapshot."""
    entities = exported_entities(snapshot, view)
    families = [*entity_families(snapshot, view, entities), top_family(snapshot, view, top_n)]
    if snapshot.clock_minute >= 0:
        clock = GaugeMetricFamily(
            "newsmon_stream_clock_seconds", "The stream clock (start of the newest counted event minute)"
        )
        clock.add_metric([], to_seconds(snapshot.clock_minute))
        families.append(clock)
    return families + spike_families(snapshot, view, entities)


def health_families(redis_up: bool, entities: int, seconds: float) -> list[GaugeMetricFamily]:
    """Always present, even when Redis is down, so that alerts can tell the two apart."""
    return [
        GaugeMetricFamily("newsmon_exporter_up", "1 while the exporter answers scrapes", value=1),
        GaugeMetricFamily("newsmon_redis_up", "1 if the exporter could read Redis in this scrape", value=int(redis_up)),
        GaugeMetricFamily("newsmon_exporter_watchlist_entities", "Entities in the exporter's watchlist", value=entities),
        GaugeMetricFamily(
            "newsmon_exporter_scrape_duration_seconds", "Time to read Redis and compute this scrape", value=seconds
        ),
    ]  # fmt: skip
