"""Pure per-article steps of the tag agent: decode and validate, event time, output records."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from hashlib import sha256
from typing import Any

import orjson
from pydantic import ValidationError

from streams.model.article import Article, parse_time

FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_DEADLETTER_PAYLOAD = 64 * 1024  # bytes of an input kept in its dead letter


class Reason(StrEnum):
    """Why an input went to the dead-letter topic; bounded, so it can label metrics."""

    EMPTY = "empty"
    OVERSIZE = "oversize"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    INVALID_ARTICLE = "invalid_article"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    detail: str


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
        return Rejected(Reason.INVALID_ARTICLE, _describe(err))


def _describe(err: ValidationError) -> str:
    problems = []
    for item in err.errors()[:5]:
        where = ".".join(str(part) for part in item["loc"]) or "article"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


def event_time(article: Article, ingested: datetime) -> datetime:
    """published_at when present, parseable and at most 5 minutes ahead of ingest time; else ingest time."""
    published = parse_time(article.published_at)
    if published is None or published > ingested + FUTURE_TOLERANCE:
        return ingested
    return published


def deadletter_record(
    rejected: Rejected,
    *,
    topic: str,
    partition: int,
    offset: int,
    received_at: datetime,
    payload: bytes | None,
) -> dict[str, Any]:
    """DESIGN.md dead-letter shape; the payload as text, or base64 when it is not UTF-8.

    Payloads over MAX_DEADLETTER_PAYLOAD are cut (an oversize input could not fit on the dead-letter
    topic otherwise), with the original size and sha256 so the input can still be identified.
    """
    raw = payload or b""
    kept = raw[:MAX_DEADLETTER_PAYLOAD]
    text, encoding = _as_text(kept, cut=len(kept) < len(raw))
    record: dict[str, Any] = {
        "reason": f"{rejected.reason.value}: {rejected.detail}",
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "received_at": received_at.isoformat(),
        "payload": text,
        "payload_encoding": encoding,
    }
    if len(kept) < len(raw):
        record |= {
            "payload_truncated": True,
            "payload_bytes": len(raw),
            "payload_sha256": sha256(raw).hexdigest(),
        }
    return record


def _as_text(raw: bytes, cut: bool) -> tuple[str, str]:
    try:
        # A cut can split the last UTF-8 sequence; drop only that incomplete tail.
        return raw.decode("utf-8", errors="ignore" if cut else "strict"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


def tagged_record(
    article: Article, at: datetime, mentions: dict[str, int], rules: list[str]
) -> dict[str, Any]:
    """The `news.tagged` value (DESIGN.md)."""
    return {
        "id": article.id,
        "source": article.source,
        "lang": article.lang,
        "event_time": at.isoformat(),
        "mentions": mentions,
        "rules": rules,
    }
