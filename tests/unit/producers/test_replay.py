"""Replay: the pacing function, and bad lines named by file:line while the rest flows."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from prometheus_client import CollectorRegistry

from producers.intake import Intake
from producers.metrics import ProducerMetrics
from producers.publisher import StdoutSink
from producers.replay import ReplayClock, count_lines, replay_stream
from producers.validate import Rejection

T0 = datetime(2016, 10, 22, 12, 0, tzinfo=UTC)


class NoProgress:
    def __init__(self) -> None:
        self.n = 0

    def update(self, n: int = 1) -> None:
        self.n += n


def test_no_pacing_sends_everything_at_once() -> None:
    clock = ReplayClock()
    assert [clock.due(T0), clock.due(None), clock.due(T0 + timedelta(hours=1))] == [0, 0, 0]


def test_rate_spaces_articles() -> None:
    clock = ReplayClock(rate=4)
    assert [clock.due(None) for _ in range(4)] == [0, 0.25, 0.5, 0.75]


def test_speedup_keeps_the_original_spacing_divided() -> None:
    clock = ReplayClock(speedup=60)
    dues = [clock.due(T0 + timedelta(minutes=m)) for m in (0, 1, 1, 10)]
    assert dues == [0, 1, 1, 10]


def test_out_of_order_and_undated_articles_never_go_back_in_time() -> None:
    clock = ReplayClock(speedup=60)
    assert clock.due(T0 + timedelta(minutes=5)) == 0  # the anchor
    assert clock.due(T0 + timedelta(minutes=7)) == 2
    assert clock.due(T0) == 2  # older than already sent: at once
    assert clock.due(None) == 2
    assert clock.due(T0 + timedelta(minutes=8)) == 3


def test_rate_and_speedup_together_take_the_later_time() -> None:
    clock = ReplayClock(rate=1, speedup=60)
    assert clock.due(T0) == 0
    assert clock.due(T0) == 1  # same event time, but the rate allows one per second
    assert clock.due(T0 + timedelta(minutes=5)) == 5


def test_undated_first_article_anchors_at_the_first_dated_one() -> None:
    clock = ReplayClock(rate=10, speedup=10)
    assert clock.due(None) == 0
    assert clock.due(T0) == pytest.approx(0.1)
    assert clock.due(T0 + timedelta(seconds=10)) == pytest.approx(1.1)


def line(**fields: object) -> bytes:
    return orjson.dumps(fields)


def test_bad_lines_are_named_counted_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    good = line(id="a", title="T", body="B", published_at="2016-10-22T00:00:00+00:00")
    lines = [
        good,
        b"",
        b"{not json",
        b'{"title": "\xff\xfe"}',
        line(id="b", title="", body=""),
        b"[1, 2]",
        line(id="c", title="T", body="x" * 3000),
        line(id="d", title="T", body="B", published_at="last Tuesday"),
        line(id="e", title=5),
    ]
    stream = io.BytesIO(b"\n".join(lines) + b"\n")
    assert count_lines(stream) == len(lines)
    out = io.BytesIO()
    metrics = ProducerMetrics(CollectorRegistry())
    intake = Intake(StdoutSink(out, metrics, "replay", max_bytes=2000), metrics)
    progress = NoProgress()
    with caplog.at_level(logging.WARNING):
        replay_stream(intake, stream, "dump.jsonl", ReplayClock(), progress, lambda: False)
    sent = [orjson.loads(x) for x in out.getvalue().splitlines()]
    assert [a["id"] for a in sent] == ["a", "d"]
    assert sent[1]["published_at"] is None
    assert intake.tally.read == 8 and progress.n == 8
    assert intake.tally.rejected == {
        Rejection.INVALID_JSON: 1,
        Rejection.INVALID_UTF8: 1,
        Rejection.EMPTY: 1,
        Rejection.NOT_AN_OBJECT: 1,
        Rejection.OVERSIZE: 1,
        Rejection.INVALID_FIELDS: 1,
    }
    for number in (3, 4, 5, 6, 7, 8, 9):
        assert f"dump.jsonl:{number}" in caplog.text
    summary = intake.tally.summary(acked=2, failed=0)
    assert "read 8, published 2" in summary and "oversize=1" in summary


def test_stop_request_ends_the_replay_early() -> None:
    stream = io.BytesIO(b"\n".join(line(id=str(n), title="T") for n in range(10)))
    out = io.BytesIO()
    metrics = ProducerMetrics(CollectorRegistry())
    intake = Intake(StdoutSink(out, metrics, "replay", 1 << 20), metrics)
    progress = NoProgress()
    replay_stream(intake, stream, "x", ReplayClock(), progress, lambda: progress.n >= 3)
    assert len(out.getvalue().splitlines()) == 3
