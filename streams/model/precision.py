"""Day-precision articles: which ones count by their day, and which windows hold them (contract "Time")."""

from __future__ import annotations

from datetime import datetime

from streams.model.article import Article, parse_time
from streams.model.decode import FUTURE_TOLERANCE

DAY_MINUTES = 1440  # the shortest window that holds day-precision counts


def counts_by_day(article: Article, ingested: datetime) -> bool:
    """True when the article's event time is a date without a time of day: published_precision "day"
    and its published_at is the event time (kept, parseable, not in the future). Such an article has
    no real minute, so it must not land in a minute bucket that a spike detector reads as a burst."""
    if article.published_precision != "day":
        return False
    published = parse_time(article.published_at)
    return published is not None and published <= ingested + FUTURE_TOLERANCE


def holds_day_counts(window_minutes: int) -> bool:
    """Day-precision counts are in windows of a day or longer only (store/lua/record.lua does the same)."""
    return window_minutes >= DAY_MINUTES
