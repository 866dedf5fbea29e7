"""streams.top without I/O: sparklines, minute series, counter parsing and rates, the rendered frame."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from streams.cli.top_frame import (
    EntityRow,
    Frame,
    entity_rows,
    minute_series,
    parse_counters,
    per_second,
    render,
    sparkline,
)
from streams.model.alert import Alert
from streams.worker.metrics import WorkerMetrics

CLOCK = 29_000_000  # 2025-02-19 21:20 UTC


def test_sparkline_scales_to_the_peak_and_blanks_zero() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == " ▁▂▄█"
    assert sparkline([3, 3]) == "██"
    assert sparkline([0, 0, 0]) == "   "
    assert sparkline([]) == ""


def test_minute_series_is_oldest_first_and_fills_gaps() -> None:
    minutes = {CLOCK: {"a": 3}, CLOCK - 2: {"a": 1, "b": 9}}
    assert minute_series(minutes, "a", CLOCK, span=4) == [0, 1, 0, 3]
    assert len(minute_series(minutes, "a", CLOCK)) == 60


def test_entity_rows_rank_by_the_hour_window() -> None:
    rows = entity_rows(
        {"a": 4, "b": 9, "c": 0}, {CLOCK: {"a": 4}, CLOCK - 1: {"b": 9}}, CLOCK, 5, stories_hour={"b": 2}
    )
    assert [(r.entity, r.mentions, r.stories, r.series[-2:]) for r in rows] == [
        ("b", 9, 2, [9, 0]), ("a", 4, 0, [0, 4])
    ]  # fmt: skip


def test_entity_rows_then_rank_by_the_day_so_date_only_mentions_show() -> None:
    """d is mentioned only by date-only articles (24-hour window, no minute): it still gets a row."""
    hour = {"a": 4, "b": 4, "c": 1}
    day = {"a": 6, "b": 9, "c": 1, "d": 500, "e": 0}
    rows = entity_rows(hour, {CLOCK: {"a": 4}}, CLOCK, 4, day)
    assert [(r.entity, r.mentions, r.day) for r in rows] == [
        ("b", 4, 9),
        ("a", 4, 6),
        ("c", 1, 1),
        ("d", 0, 500),
    ]
    assert rows[3].series == [0] * 60


def worker_metrics_text(tagged: int, delivered: int) -> str:
    metrics = WorkerMetrics(CollectorRegistry())
    metrics.articles.labels("tagged").inc(tagged)
    metrics.articles.labels("duplicate").inc(2)
    metrics.alerts.labels("spike").inc(1)
    metrics.deliveries.labels("ops", "delivered").inc(delivered)
    metrics.deliveries.labels("slack", "delivered").inc(1)
    metrics.lag.labels("news.articles", "0").set(7)
    metrics.lag.labels("news.articles", "1").set(5)
    return generate_latest(metrics.registry).decode()


def test_parse_counters_sums_by_the_splitting_label() -> None:
    counters = parse_counters(worker_metrics_text(tagged=10, delivered=3))
    assert counters == {
        ("newsmon_articles", "tagged"): 10, ("newsmon_articles", "duplicate"): 2,
        ("newsmon_articles", "deadletter"): 0, ("newsmon_alerts_raised", "rule"): 0,
        ("newsmon_alerts_raised", "spike"): 1, ("newsmon_webhook_deliveries", "delivered"): 4,
        ("newsmon_consumer_lag_messages", ""): 12,
    }  # fmt: skip


def test_rates_per_second_and_after_a_counter_reset() -> None:
    before = {("newsmon_articles", "tagged"): 100.0, ("newsmon_articles", "duplicate"): 50.0}
    after = {("newsmon_articles", "tagged"): 300.0, ("newsmon_articles", "duplicate"): 10.0,
             ("newsmon_consumer_lag_messages", ""): 5.0}  # fmt: skip
    assert per_second(before, after, 2.0) == {("newsmon_articles", "tagged"): 100.0, ("newsmon_articles", "duplicate"): 5.0}  # fmt: skip


def test_render_one_frame() -> None:
    alert = Alert(id="x", kind="spike", status="firing", rule_id="raqqa_burst", entity="raqqa", severity="warning",
                  starts_at=datetime(2026, 11, 21, 12, 2, tzinfo=UTC), count=37)  # fmt: skip
    frame = Frame(
        clock_minute=CLOCK,
        entities=[
            EntityRow("raqqa", 13, [0] * 56 + [1, 2, 4, 8], 513, 3),
            EntityRow("isis", 2, [2] + [0] * 59, 2),
        ],
        alerts=[alert],
        totals={("newsmon_articles", "tagged"): 120.0},
        rates={("newsmon_articles", "tagged"): 2.5},
        problems=["worker metrics http://w:6066/metrics (refused)"],
    )
    console = Console(width=120, record=True, color_system=None)
    console.print(render(frame))
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert lines[0] == "stream clock: 2025-02-19 21:20 UTC"
    assert "│ 1 │ raqqa  │ 13 │ 513 │       3 │" + " " * 57 + "▁▂▄█ │" in lines
    assert "│ 2 │ isis   │  2 │   2 │       0 │ █" + " " * 59 + " │" in lines
    assert "│ 2026-11-21 12:02 │ spike │ firing │ raqqa_burst │ raqqa  │ warning  │ 37    │" in lines
    assert "│ articles │ tagged │   120 │        2.5 │" in lines
    assert lines[-1] == "unavailable: worker metrics http://w:6066/metrics (refused)"
