"""Prometheus exporter of the rolling counts in Redis, read at scrape time (`python -m streams.exporter`)."""

from __future__ import annotations

import argparse
import logging
import signal
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import redis
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.model.minutes import to_seconds
from streams.model.settings import Settings, get_settings
from streams.spikes.detector import SpikeDetector
from streams.spikes.spec import load_spikes
from streams.spikes.state import SpikeState
from streams.store import scripts
from streams.store.counts import DEFAULT_WINDOWS
from streams.store.keys import RedisKeys
from streams.watchlist.file import WatchlistError, load_watchlist
from streams.watchlist.reload import WatchlistReloader

log = logging.getLogger(__name__)

TOP_WINDOW = 60  # minutes: "top entities" rank by mentions in the last hour of stream time
MAX_TOP = 100  # bounds the rank label


# --- what is watched -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchView:
    """The watchlist as the exporter sees it: entity ids (the only label values) and spike detectors."""

    entities: tuple[str, ...]
    spikes: tuple[SpikeDetector, ...] = ()

    def span_minutes(self) -> int:
        """Minutes of per-minute buckets the spike detectors read (window plus baseline)."""
        return max((d.span_minutes for d in self.spikes), default=0)


def load_view(path: Path) -> WatchView:
    """Entity ids and compiled spike detectors of a watchlist file; webhook secrets are not needed."""
    watchlist = load_watchlist(path)
    ids = [entity.id for entity in watchlist.entities]
    try:
        spikes = load_spikes(watchlist.spikes, ids, list(watchlist.webhooks))
    except ValueError as err:
        raise WatchlistError(f"{path}: {err}") from err
    return WatchView(tuple(ids), spikes)


class ViewSource:
    """The view of the watchlist file, reloaded when the file changes (checked at scrape time)."""

    def __init__(self, path: Path) -> None:
        self.reloader = WatchlistReloader(path, load_view)

    def current(self) -> WatchView:
        self.reloader.reload_if_changed()
        return self.reloader.current


# --- reading Redis -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent read of the counts: the stream clock (minutes, -1 = nothing counted yet), every
    window hash (window minutes -> entity -> count), distinct sources the same way, the per-minute
    buckets of the last minutes (minute -> entity -> count) and the firing spike pairs."""

    clock_minute: int
    windows: Mapping[int, Mapping[str, int]]
    sources: Mapping[int, Mapping[str, int]]
    minutes: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    firing: frozenset[tuple[str, str]] = frozenset()


def read_snapshot(
    client: redis.Redis, prefix: str, span_minutes: int, windows: Sequence[int] = DEFAULT_WINDOWS
) -> Snapshot:
    """Everything one scrape needs in one round trip, inside MULTI/EXEC so the clock cannot move mid-read."""
    keys = RedisKeys(prefix)
    with client.pipeline(transaction=True) as pipe:
        for window in windows:
            pipe.hgetall(keys.window(window))
        for window in windows:
            pipe.hgetall(keys.window_distinct(window))
        pipe.smembers(keys.spike_firing)
        pipe.eval(scripts.BUCKETS, 0, prefix, span_minutes)
        replies = pipe.execute()
    return parse_snapshot(windows, replies)


def parse_snapshot(windows: Sequence[int], replies: Sequence[Any]) -> Snapshot:
    """Turn the pipeline's replies (see read_snapshot for their order) into a Snapshot."""
    n = len(windows)
    buckets = replies[2 * n + 1]
    clock = int(buckets[0])
    first = clock - len(buckets) + 2
    return Snapshot(
        clock_minute=clock,
        windows={w: _ints(reply) for w, reply in zip(windows, replies[:n], strict=True)},
        sources={w: _ints(reply) for w, reply in zip(windows, replies[n : 2 * n], strict=True)},
        minutes={first + i: _pairs(flat) for i, flat in enumerate(buckets[1:])},
        firing=frozenset(_firing_pair(_text(m)) for m in replies[2 * n]),
    )


def _ints(raw: Mapping[Any, Any]) -> dict[str, int]:
    return {_text(k): int(v) for k, v in raw.items()}


def _pairs(flat: Sequence[Any]) -> dict[str, int]:
    """A Lua HGETALL reply (field, value, field, value, ...) as a dict."""
    return {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def _firing_pair(member: str) -> tuple[str, str]:
    spike_id, _, entity = member.partition("\t")
    return spike_id, entity


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- from a snapshot to metric families (pure) ---------------------------------------------------------


def window_label(minutes: int) -> str:
    """1 -> "1m", 60 -> "1h", 1440 -> "24h": the window label values."""
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def top_entities(counts: Mapping[str, int], entities: Iterable[str], n: int) -> list[tuple[str, int]]:
    """The n watched entities with the most mentions (ties by id), zero counts left out."""
    ranked = sorted(
        ((e, counts[e]) for e in set(entities) if counts.get(e, 0) > 0), key=lambda p: (-p[1], p[0])
    )
    return ranked[:n]


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


def entity_families(snapshot: Snapshot, view: WatchView) -> list[GaugeMetricFamily]:
    """Mentions and distinct sources per watched entity and window; zero when absent from Redis."""
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
    for window, counts in sorted(snapshot.windows.items()):
        label = window_label(window)
        distinct = snapshot.sources.get(window, {})
        for entity in view.entities:
            mentions.add_metric([entity, label], counts.get(entity, 0))
            sources.add_metric([entity, label], distinct.get(entity, 0))
    return [mentions, sources]


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


def spike_families(snapshot: Snapshot, view: WatchView) -> list[GaugeMetricFamily]:
    """Current ratio and firing state per (detector, entity), and each detector's threshold."""
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
    clock = snapshot.clock_minute
    for detector in view.spikes:
        threshold.add_metric([detector.id], detector.ratio)
        # Entities with no mention in the span all share one ratio: compute it once (large watchlists).
        quiet = spike_ratio(detector, {}, clock) if clock >= 0 else 0.0
        for entity in view.entities:
            if not detector.applies_to(entity):
                continue
            if clock >= 0:
                counts = per_minute.get(entity)
                ratio.add_metric(
                    [detector.id, entity], spike_ratio(detector, counts, clock) if counts else quiet
                )
            firing.add_metric([detector.id, entity], 1.0 if (detector.id, entity) in snapshot.firing else 0.0)
    return [ratio, firing, threshold]


def count_families(snapshot: Snapshot, view: WatchView, top_n: int) -> list[GaugeMetricFamily]:
    """Every family computed from a snapshot."""
    families = [*entity_families(snapshot, view), top_family(snapshot, view, top_n)]
    if snapshot.clock_minute >= 0:
        clock = GaugeMetricFamily(
            "newsmon_stream_clock_seconds", "The stream clock (start of the newest counted event minute)"
        )
        clock.add_metric([], to_seconds(snapshot.clock_minute))
        families.append(clock)
    return families + spike_families(snapshot, view)


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


# --- the collector -------------------------------------------------------------------------------------


class RedisCountsCollector(Collector):
    """Reads Redis once per scrape (no background polling) and yields the families above."""

    def __init__(
        self, client: redis.Redis, prefix: str, views: ViewSource | WatchView, top_n: int = 10
    ) -> None:
        if not 0 <= top_n <= MAX_TOP:
            raise ValueError(f"top_n must be between 0 and {MAX_TOP}, not {top_n}")
        self.client = client
        self.prefix = prefix
        self.views = views
        self.top_n = top_n

    def _view(self) -> WatchView:
        return self.views if isinstance(self.views, WatchView) else self.views.current()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        began = time.perf_counter()
        view = self._view()
        families: list[GaugeMetricFamily] = []
        try:
            snapshot = read_snapshot(self.client, self.prefix, view.span_minutes())
        except redis.RedisError as err:
            log.warning("Redis unavailable for this scrape: %s", err)
            redis_up = False
        else:
            families = count_families(snapshot, view, self.top_n)
            redis_up = True
        yield from families
        yield from health_families(redis_up, len(view.entities), time.perf_counter() - began)


# --- command line --------------------------------------------------------------------------------------


def build_registry(settings: Settings, top_n: int) -> CollectorRegistry:
    """A registry holding only the Redis collector (sync client with short timeouts: a scrape never hangs)."""
    timeout = settings.read_redis_timeout_seconds
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        RedisCountsCollector(client, settings.redis_prefix, ViewSource(settings.watchlist), top_n)
    )
    return registry


def parse_args(argv: Sequence[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m streams.exporter", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=settings.exporter_port, help="default NEWSMON_EXPORTER_PORT"
    )
    parser.add_argument(
        "--top", type=int, default=10, help=f"top-N entities to export (0-{MAX_TOP}, default 10)"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    args = parse_args(argv, settings)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    registry = build_registry(settings, args.top)
    server, thread = start_http_server(args.port, addr=args.host, registry=registry)
    log.info("serving /metrics on %s:%d (Redis %s, prefix %r)", args.host, args.port, settings.redis_url,
             settings.redis_prefix)  # fmt: skip

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        server.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    thread.join()
    return 0
