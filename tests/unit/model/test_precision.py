"""Which articles count by their day (published_precision "day"), and which windows hold them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.model.article import Article
from streams.model.precision import counts_by_day, holds_day_counts

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def article(**fields: object) -> Article:
    return Article.model_validate({"id": "a", "title": "t", **fields})


@pytest.mark.parametrize(
    ("fields", "by_day"),
    [
        ({"published_at": "2026-11-20T00:00:00+00:00", "published_precision": "day"}, True),
        ({"published_at": "2026-11-20T00:00:00+03:00", "published_precision": "day"}, True),  # --tz midnight
        ({"published_at": "2026-11-20T00:00:00+00:00", "published_precision": "minute"}, False),
        ({"published_at": "2026-11-20T00:00:00+00:00", "published_precision": "second"}, False),
        ({"published_at": "2026-11-20T00:00:00+00:00"}, False),  # no precision: the time is exact
        ({"published_precision": "day"}, False),  # no published_at: ingest time, which is exact
        ({"published_at": "20 Nov 2026", "published_precision": "day"}, False),  # unparseable: ingest time
        ({"published_at": "2026-11-20T00:00:00", "published_precision": "day"}, False),  # no offset
        ({"published_at": "2026-11-21T00:00:00+00:00", "published_precision": "day"}, False),  # future
        ({"published_at": "2026-11-20T15:05:00+00:00", "published_precision": "day"}, True),  # 5 min ahead
    ],
)
def test_only_a_kept_date_without_time_counts_by_day(fields: dict[str, str], by_day: bool) -> None:
    assert counts_by_day(article(**fields), NOW) is by_day


def test_windows_of_a_day_or_longer_hold_day_counts() -> None:
    assert [w for w in (1, 5, 60, 1439, 1440, 10080) if holds_day_counts(w)] == [1440, 10080]
