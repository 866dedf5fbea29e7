"""Decode/validate, event time and output records of the tag agent, without servers."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from streams.model.article import Article
from streams.model.deadletter import Reason, Rejected, deadletter_record
from streams.model.decode import decode_article, event_time
from streams.model.tagged import tagged_record

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def good(**fields: object) -> bytes:
    return orjson.dumps({"id": "a1", "title": "Mosul", "body": "", **fields})


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (b"", Reason.EMPTY, "empty message value"),
        (b"\xff\xfe{}", Reason.NOT_UTF8, "invalid UTF-8 at byte 0"),
        (b"{not json", Reason.NOT_JSON, None),
        (b"[1, 2]", Reason.NOT_OBJECT, "expected a JSON object, got list"),
        (b'{"title": "x"}', Reason.INVALID_ARTICLE, "missing required key 'id'"),
        (b'{"id": 5, "title": "x"}', Reason.INVALID_ARTICLE, "id: Input should be a valid string"),
        (
            b'{"id": "a", "title": " ", "body": ""}',
            Reason.INVALID_ARTICLE,
            "article: Value error, title and body are both empty",
        ),
        (b'{"id": "a", "title": ["x"]}', Reason.INVALID_ARTICLE, "title: Input should be a valid string"),
    ],
)
def test_bad_input_is_rejected_with_reason(raw: bytes, reason: Reason, detail: str | None) -> None:
    result = decode_article(raw, max_bytes=1000)
    assert isinstance(result, Rejected)
    assert result.reason is reason
    if detail is not None:
        assert result.detail == detail


def test_oversize_is_rejected_before_parsing() -> None:
    result = decode_article(good(body="x" * 2000), max_bytes=1000)
    assert result == Rejected(Reason.OVERSIZE, "2037 bytes exceeds the limit of 1000")


def test_good_article_decodes() -> None:
    article = decode_article(good(source="s", extra="ignored"), max_bytes=1000)
    assert article == Article(id="a1", title="Mosul", source="s")


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ("2016-10-22T09:30:00+03:00", datetime(2016, 10, 22, 6, 30, tzinfo=UTC)),
        ("2026-11-23T12:04:59Z", datetime(2026, 11, 23, 12, 4, 59, tzinfo=UTC)),  # within 5 min ahead
        ("2026-11-23T12:05:01Z", NOW),  # too far in the future
        ("yesterday", NOW),
        ("2016-10-22T09:30:00", NOW),  # no offset: ambiguous
        (None, NOW),
    ],
)
def test_event_time(published: str | None, expected: datetime) -> None:
    article = Article(id="a", title="t", published_at=published)
    assert event_time(article, NOW) == expected


def test_deadletter_record_keeps_text_or_base64() -> None:
    rejected = Rejected(Reason.NOT_UTF8, "invalid UTF-8 at byte 0")
    record = deadletter_record(
        rejected.describe(), topic="news.articles", partition=3, offset=42, received_at=NOW, payload=b"\xff"
    )
    assert record == {
        "reason": "not_utf8: invalid UTF-8 at byte 0",
        "topic": "news.articles",
        "partition": 3,
        "offset": 42,
        "received_at": "2026-11-23T12:00:00+00:00",
        "payload": base64.b64encode(b"\xff").decode(),
        "payload_encoding": "base64",
    }
    text = deadletter_record(
        rejected.describe(), topic="t", partition=0, offset=0, received_at=NOW, payload="داعش".encode()
    )
    assert (text["payload"], text["payload_encoding"]) == ("داعش", "text")


def test_tagged_record_shape() -> None:
    article = Article(id="a", title="t", source="s", lang="ar")
    at = NOW - timedelta(hours=1)
    assert tagged_record(article, at, {"isis": 2}, ["r1"]) == {
        "id": "a", "source": "s", "lang": "ar", "event_time": "2026-11-23T11:00:00+00:00",
        "mentions": {"isis": 2}, "rules": ["r1"],
    }  # fmt: skip


def test_deadletter_payload_of_an_oversize_input_is_cut_and_identified() -> None:
    payload = ("ث" * 40_000).encode()  # 80,000 bytes of two-byte characters
    rejected = Rejected(Reason.OVERSIZE, "80000 bytes exceeds the limit of 1000")
    record = deadletter_record(
        rejected.describe(), topic="t", partition=0, offset=1, received_at=NOW, payload=payload
    )
    assert record["payload"] == "ث" * 32_768
    assert (record["payload_encoding"], record["payload_truncated"], record["payload_bytes"]) == (
        "text",
        True,
        80_000,
    )
    assert record["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert len(orjson.dumps(record)) < 70_000
