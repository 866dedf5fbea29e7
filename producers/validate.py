"""Turning raw input into valid Article messages, with bounded rejection reasons."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from pydantic import ValidationError

from producers.ids import article_id
from streams.model.article import Article, parse_time

log = logging.getLogger(__name__)

ARTICLE_FIELDS = ("id", "url", "title", "body", "lang", "source", "published_at", "fetched_at")
PRECISIONS = frozenset({"day", "minute", "second"})


class Rejection(StrEnum):
    """Why an input was not published; the values are the metric label set, so keep it small."""

    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    INVALID_FIELDS = "invalid_fields"
    EMPTY = "empty"
    OVERSIZE = "oversize"
    UNREADABLE = "unreadable"
    SEND_FAILED = "send_failed"


class ArticleRejected(Exception):
    """An input that cannot become an article; ``reason`` is bounded, ``detail`` is for humans."""

    def __init__(self, reason: Rejection, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def utc_now_iso() -> str:
    """The current time as ISO-8601 with offset, second precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def decode_json_object(raw: bytes) -> dict[str, object]:
    """One JSON object from bytes that must be UTF-8."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleRejected(Rejection.INVALID_UTF8, f"byte {exc.start}: {exc.reason}") from None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ArticleRejected(Rejection.INVALID_JSON, str(exc)) from None
    if not isinstance(value, dict):
        raise ArticleRejected(Rejection.NOT_AN_OBJECT, f"expected a JSON object, got {type(value).__name__}")
    return value


def _text_field(fields: Mapping[str, object], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ArticleRejected(
            Rejection.INVALID_FIELDS, f"{name} must be a string, got {type(value).__name__}"
        )
    return value


def _checked_time(value: str, field: str, where: str) -> str | None:
    """The time itself, or None (with a warning) when it cannot serve as event time.

    Dropping the field rather than the article keeps the news flowing; streams then buckets the
    article by ingest time, as docs/contract.md "Time" says for a missing published_at.
    """
    if not value:
        return None
    if parse_time(value) is None:
        log.warning("%s: %s %r is not ISO-8601 with an offset; dropped", where, field, value[:64])
        return None
    return value


def _checked_precision(value: object, published_at: str | None, where: str) -> Any:
    """A known precision of a kept published_at, else None (an unknown value is dropped with a warning)."""
    if value is None or published_at is None:
        return None
    if value not in PRECISIONS:
        log.warning("%s: published_precision %r is not day|minute|second; dropped", where, str(value)[:32])
        return None
    return value


def build_article(
    fields: Mapping[str, object], *, where: str, default_source: str = "", fetched_at: str | None = None
) -> Article:
    """A valid Article from loose fields: id derived when missing, bad published_at dropped.

    ``where`` names the input (file and line, feed URL, request) for warnings and errors.
    """
    text = {name: _text_field(fields, name) for name in ARTICLE_FIELDS}
    if not text["title"].strip() and not text["body"].strip():
        raise ArticleRejected(Rejection.EMPTY, "title and body are both empty")
    published_at = _checked_time(text["published_at"], "published_at", where)
    try:
        return Article(
            id=text["id"].strip() or article_id(text["url"], text["title"], text["body"]),
            url=text["url"],
            title=text["title"],
            body=text["body"],
            lang=text["lang"],
            source=text["source"] or default_source,
            published_at=published_at,
            fetched_at=_checked_time(text["fetched_at"], "fetched_at", where) or fetched_at or utc_now_iso(),
            published_precision=_checked_precision(fields.get("published_precision"), published_at, where),
        )
    except ValidationError as exc:
        raise ArticleRejected(Rejection.INVALID_FIELDS, str(exc.errors()[0]["msg"])) from None


def encode_article(article: Article, max_bytes: int) -> bytes:
    """Compact JSON for the wire, refused when larger than ``max_bytes``."""
    # published_precision is optional on the wire: absent rather than null, as before the field existed.
    omitted = {"published_precision"} if article.published_precision is None else set()
    encoded = orjson.dumps(article.model_dump(exclude=omitted))
    if len(encoded) > max_bytes:
        raise ArticleRejected(Rejection.OVERSIZE, f"{len(encoded)} bytes > limit {max_bytes}")
    return encoded
