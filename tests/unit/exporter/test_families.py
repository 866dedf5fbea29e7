"""Exporter logic without Redis: snapshot parsing, families, top-N, spike ratio, Redis-down scrape, lint."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from streams.exporter.collector import RedisCountsCollector
from streams.exporter.families import count_families, health_families, window_label
from streams.exporter.view import WatchView
from streams.model.snapshot import Snapshot, top_entities
from streams.spikes.spec import load_spikes
from streams.store.snapshot import parse_snapshot

CLOCK = 29_000_000  # a stream-clock minute (2025-02)
SPIKE = {"id": "burst", "entities": ["raqqa", "mosul"], "window": "5m", "baseline": "10m", "min_count": 3}


def view() -> WatchView:
    entities = ("isis", "mosul", "raqqa")
    return WatchView(entities, load_spikes([SPIKE], entities, []))


def snapshot() -> Snapshot:
    # raqqa: 10 mentions in the last 5 minutes, 3 in the 10 minutes before (the baseline).
    minutes = {CLOCK - 12: {"raqqa": 2}, CLOCK - 6: {"raqqa": 1, "isis": 4}, CLOCK - 1: {"raqqa": 6},
               CLOCK: {"raqqa": 4, "mosul": 1}}  # fmt: skip
    return Snapshot(
        clock_minute=CLOCK,
        windows={1: {"raqqa": 4, "mosul": 1}, 5: {"raqqa": 10, "mosul": 1}, 60: {"raqqa": 13, "isis": 4,
                 "mosul": 1, "unwatched": 99}, 1440: {"raqqa": 13, "isis": 4, "mosul": 1}},
        sources={1: {"raqqa": 2, "mosul": 1}, 5: {"raqqa": 3, "mosul": 1}, 60: {"raqqa": 4, "isis": 1,
                 "mosul": 1}, 1440: {"raqqa": 4, "isis": 1, "mosul": 1}},
        stories={1: {"raqqa": 1, "mosul": 1}, 5: {"raqqa": 2, "mosul": 1}, 60: {"raqqa": 3, "isis": 1,
                 "mosul": 1}, 1440: {"raqqa": 3, "isis": 1, "mosul": 1}},
        minutes=minutes,
        firing=frozenset({("burst", "raqqa")}),
    )  # fmt: skip


def samples(families: list[GaugeMetricFamily]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def test_window_labels() -> None:
    assert [window_label(m) for m in (1, 5, 60, 1440, 90)] == ["1m", "5m", "1h", "24h", "90m"]


def test_top_entities_rank_by_count_then_id_and_leave_out_zero_and_unwatched() -> None:
    counts = {"b": 5, "a": 5, "c": 9, "d": 0, "x": 100}
    assert top_entities(counts, ["a", "b", "c", "d"], 10) == [("c", 9), ("a", 5), ("b", 5)]
    assert top_entities(counts, ["a", "b", "c", "d"], 2) == [("c", 9), ("a", 5)]
    assert top_entities(counts, ["a"], 0) == []


def test_parse_snapshot_reads_the_pipeline_replies_in_order() -> None:
    replies = [
        {b"raqqa": b"4"}, {}, {b"raqqa": b"10", b"isis": b"1"}, {},  # w:1 w:5 w:60 w:1440
        {b"raqqa": b"2"}, {}, {}, {},  # wd:*
        {}, {b"raqqa": b"3"}, {}, {},  # wst:*
        {b"burst\traqqa"},
        [CLOCK, [b"raqqa", b"6"], [], [b"raqqa", b"4", b"mosul", b"1"]],  # the last 3 minutes
        [CLOCK, [b"raqqa", b"2"], [], [b"raqqa", b"1", b"mosul", b"1"]],  # their story buckets
    ]  # fmt: skip
    parsed = parse_snapshot((1, 5, 60, 1440), replies)
    assert parsed == Snapshot(
        clock_minute=CLOCK,
        windows={1: {"raqqa": 4}, 5: {}, 60: {"raqqa": 10, "isis": 1}, 1440: {}},
        sources={1: {"raqqa": 2}, 5: {}, 60: {}, 1440: {}},
        stories={1: {}, 5: {"raqqa": 3}, 60: {}, 1440: {}},
        minutes={CLOCK - 2: {"raqqa": 6}, CLOCK - 1: {}, CLOCK: {"raqqa": 4, "mosul": 1}},
        story_minutes={CLOCK - 2: {"raqqa": 2}, CLOCK - 1: {}, CLOCK: {"raqqa": 1, "mosul": 1}},
        firing=frozenset({("burst", "raqqa")}),
    )


def test_parse_snapshot_before_anything_was_counted() -> None:
    parsed = parse_snapshot((1,), [{}, {}, {}, set(), [-1], [-1]])
    assert (parsed.clock_minute, parsed.minutes, parsed.firing) == (-1, {}, frozenset())


def test_count_families_exact_values() -> None:
    got = samples(count_families(snapshot(), view(), top_n=2))
    assert got[("newsmon_entity_mentions_window", (("entity", "raqqa"), ("window", "5m")))] == 10
    assert got[("newsmon_entity_mentions_window", (("entity", "isis"), ("window", "1m")))] == 0
    assert got[("newsmon_entity_sources_window", (("entity", "raqqa"), ("window", "1h")))] == 4
    assert got[("newsmon_entity_stories_window", (("entity", "raqqa"), ("window", "5m")))] == 2
    assert got[("newsmon_entity_stories_window", (("entity", "isis"), ("window", "1m")))] == 0
    assert ("newsmon_entity_mentions_window", (("entity", "unwatched"), ("window", "1h"))) not in got
    top = {k: v for k, v in got.items() if k[0] == "newsmon_top_entity_mentions"}
    assert top == {
        ("newsmon_top_entity_mentions", (("entity", "raqqa"), ("rank", "1"))): 13,
        ("newsmon_top_entity_mentions", (("entity", "isis"), ("rank", "2"))): 4,
    }
    assert got[("newsmon_stream_clock_seconds", ())] == CLOCK * 60
    # raqqa: window 10, baseline (3 + 1) / 2 windows = 2 -> ratio 5; mosul: 1 / ((0 + 1) / 2) = 2.
    assert got[("newsmon_spike_ratio", (("entity", "raqqa"), ("spike", "burst")))] == 5.0
    assert got[("newsmon_spike_ratio", (("entity", "mosul"), ("spike", "burst")))] == 2.0
    assert got[("newsmon_spike_firing", (("entity", "raqqa"), ("spike", "burst")))] == 1
    assert got[("newsmon_spike_firing", (("entity", "mosul"), ("spike", "burst")))] == 0
    assert ("newsmon_spike_ratio", (("entity", "isis"), ("spike", "burst"))) not in got  # not watched by it
    assert got[("newsmon_spike_threshold_ratio", (("spike", "burst"),))] == 3.0
    assert len(got) == 3 * 4 * 3 + 2 + 1 + 2 + 2 + 1


def test_a_story_measured_detector_ratio_comes_from_the_story_buckets() -> None:
    entities = ("isis", "mosul", "raqqa")
    stories_view = WatchView(entities, load_spikes([{**SPIKE, "measure": "stories"}], entities, []))
    # raqqa: 3 stories in the last 5 minutes (10 mentions), 1 in the baseline: 3 / ((1 + 1) / 2) = 3.
    story_minutes = {CLOCK - 6: {"raqqa": 1}, CLOCK - 1: {"raqqa": 2}, CLOCK: {"raqqa": 1}}
    with_stories = replace(snapshot(), story_minutes=story_minutes)
    got = samples(count_families(with_stories, stories_view, top_n=2))
    assert got[("newsmon_spike_ratio", (("entity", "raqqa"), ("spike", "burst")))] == 3.0
    assert got[("newsmon_spike_ratio", (("entity", "mosul"), ("spike", "burst")))] == 0.0


def test_no_clock_no_clock_sample_and_no_ratios() -> None:
    empty = Snapshot(clock_minute=-1, windows={60: {}}, sources={60: {}})
    got = samples(count_families(empty, view(), top_n=5))
    assert ("newsmon_stream_clock_seconds", ()) not in got
    assert not [k for k in got if k[0] in ("newsmon_spike_ratio", "newsmon_top_entity_mentions")]
    assert not [k for k in got if k[0] in ("newsmon_entity_mentions_window", "newsmon_spike_firing")]


def test_only_entities_mentioned_in_the_longest_window_are_exported_and_the_always_ones() -> None:
    quiet = Snapshot(
        clock_minute=CLOCK,
        windows={5: {"raqqa": 2}, 60: {"raqqa": 3, "mosul": 0}},
        sources={5: {"raqqa": 1}, 60: {"raqqa": 1}},
        minutes={CLOCK: {"raqqa": 2}},
        firing=frozenset({("burst", "mosul")}),  # firing while quiet: still shown until it resolves
    )
    watched = WatchView(("isis", "mosul", "raqqa"), view().spikes, always=frozenset({"isis"}))
    got = samples(count_families(quiet, watched, top_n=5))
    mentioned = {dict(labels)["entity"] for name, labels in got if name == "newsmon_entity_mentions_window"}
    assert mentioned == {"isis", "raqqa"}
    assert got[("newsmon_entity_mentions_window", (("entity", "isis"), ("window", "1h")))] == 0
    assert got[("newsmon_spike_firing", (("entity", "mosul"), ("spike", "burst")))] == 1
    assert got[("newsmon_spike_firing", (("entity", "raqqa"), ("spike", "burst")))] == 0
    assert ("newsmon_spike_firing", (("entity", "isis"), ("spike", "burst"))) not in got  # not its entity


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_down_still_answers_with_redis_up_zero() -> None:
    client = redis.Redis(port=closed_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    registry = CollectorRegistry()
    registry.register(RedisCountsCollector(client, "x:", view()))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert set(families) == {"newsmon_exporter_up", "newsmon_redis_up", "newsmon_exporter_watchlist_entities",
                             "newsmon_exporter_scrape_duration_seconds"}  # fmt: skip
    assert families["newsmon_redis_up"].samples[0].value == 0
    assert families["newsmon_exporter_up"].samples[0].value == 1
    assert families["newsmon_exporter_watchlist_entities"].samples[0].value == 3


def test_top_n_is_bounded() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        RedisCountsCollector(redis.Redis(), "x:", view(), top_n=101)


class _Fixed(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from count_families(snapshot(), view(), top_n=10)
        yield from health_families(True, 3, 0.001)


def test_promtool_check_metrics_is_clean(promtool: str) -> None:
    registry = CollectorRegistry()
    registry.register(_Fixed())
    result = subprocess.run(
        [promtool, "check", "metrics"], input=generate_latest(registry), capture_output=True, timeout=30
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
