"""From a message value to an Article, or why not (the Rejected reason), and its event time."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from pydantic import ValidationError

from streams.model.article import Article, parse_time
from streams.model.deadletter import Reason, Rejected
from streams.model.validation import describe_validation_error

FUTURE_TOLERANCE = timedelta(minutes=5)


def decode_article(raw: bytes | None, max_bytes: int) -> Article | Rejected:
    """The Article in a message value, or why it cannot be processed."""
    if not raw:
        return Rejected(Reason.EMPTY, "empty message value")
    if len(raw) > max_bytes:
        return Rejected(Reason.OVERSIZE, f"{len(raw)} bytes exceeds the limit of {max_bytes}")
    try:
        data = orjson.loads(raw)  # rejects invalid UTF-8 too, so valid input is decoded only once
    except orjson.JSONDecodeError as err:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Rejected(Reason.NOT_UTF8, f"invalid UTF-8 at byte {bad.start}")
        return Rejected(Reason.NOT_JSON, f"not JSON: {err}")
    if not isinstance(data, dict):
        return Rejected(Reason.NOT_OBJECT, f"expected a JSON object, got {type(data).__name__}")
    try:
        return Article.model_validate(data, strict=True)
    except ValidationError as err:
        return Rejected(Reason.INVALID_ARTICLE, describe_validation_error(err, limit=5, root="article"))


def event_time(article: Article, ingested: datetime) -> datetime:
    """published_at when present, parseable and at most 5 minutes ahead of ingest time; else ingest time."""
    published = parse_time(article.published_at)
    if published is None or published > ingested + FUTURE_TOLERANCE:
        return ingested
    return published
