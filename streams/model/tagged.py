"""The news.tagged message: an article's event time, mentions per entity and matching rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from streams.model.article import Article


def tagged_record(
    article: Article, at: datetime, mentions: dict[str, int], rules: list[str], *, by_day: bool = False
) -> dict[str, Any]:
    """The `news.tagged` value (docs/contract.md "Topics"); `event_precision: "day"` only when the
    event time is a date without a time of day (streams.model.precision)."""
    record: dict[str, Any] = {
        "id": article.id,
        "source": article.source,
        "lang": article.lang,
        "event_time": at.isoformat(),
        "mentions": mentions,
        "rules": rules,
    }
    if by_day:
        record["event_precision"] = "day"
    return record
