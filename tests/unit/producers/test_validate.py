"""From loose input to a valid Article: derived ids, bad dates, size limits, rejection reasons."""

from __future__ import annotations

import logging

import pytest

from producers.ids import article_id
from producers.validate import (
    ArticleRejected,
    Rejection,
    build_article,
    decode_json_object,
    encode_article,
)


def test_decode_rejects_bad_utf8_bad_json_and_non_objects() -> None:
    with pytest.raises(ArticleRejected) as bad_utf8:
        decode_json_object(b'{"title": "\xff"}')
    assert bad_utf8.value.reason is Rejection.INVALID_UTF8
    with pytest.raises(ArticleRejected) as bad_json:
        decode_json_object(b'{"title": ')
    assert bad_json.value.reason is Rejection.INVALID_JSON
    with pytest.raises(ArticleRejected) as not_object:
        decode_json_object(b"[1, 2]")
    assert not_object.value.reason is Rejection.NOT_AN_OBJECT
    assert decode_json_object('{"title": "داعش"}'.encode()) == {"title": "داعش"}


def test_missing_id_is_derived_and_defaults_filled() -> None:
    article = build_article(
        {"url": "https://example.com/a?utm_source=x", "title": "T", "body": "B"},
        where="test",
        default_source="src",
        fetched_at="2026-01-01T00:00:00+00:00",
    )
    assert article.id == article_id("https://example.com/a", "T", "B")
    assert article.source == "src"
    assert article.fetched_at == "2026-01-01T00:00:00+00:00"


def test_given_id_and_source_are_kept() -> None:
    article = build_article({"id": "abc", "title": "T", "source": "mine"}, where="test", default_source="x")
    assert (article.id, article.source) == ("abc", "mine")


def test_empty_title_and_body_is_rejected() -> None:
    with pytest.raises(ArticleRejected) as caught:
        build_article({"id": "x", "title": "  ", "body": ""}, where="test")
    assert caught.value.reason is Rejection.EMPTY


def test_non_string_field_is_rejected() -> None:
    with pytest.raises(ArticleRejected) as caught:
        build_article({"title": 5}, where="test")
    assert caught.value.reason is Rejection.INVALID_FIELDS
    assert "title" in caught.value.detail


@pytest.mark.parametrize("value", ["yesterday", "2016-10-22T10:00:00", "2016-13-45T00:00:00Z"])
def test_bad_published_at_is_dropped_with_a_warning_naming_the_input(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        article = build_article({"title": "T", "published_at": value}, where="feed.jsonl:7")
    assert article.published_at is None
    assert "feed.jsonl:7" in caplog.text and "published_at" in caplog.text


def test_good_published_at_is_kept_verbatim() -> None:
    article = build_article({"title": "T", "published_at": "2016-10-22T10:00:00+03:00"}, where="t")
    assert article.published_at == "2016-10-22T10:00:00+03:00"


def test_encode_is_compact_utf8_and_enforces_the_limit() -> None:
    article = build_article({"id": "x", "title": "داعش", "body": "b" * 100}, where="t")
    encoded = encode_article(article, 10_000)
    assert "داعش".encode() in encoded and b", " not in encoded
    with pytest.raises(ArticleRejected) as caught:
        encode_article(article, len(encoded) - 1)
    assert caught.value.reason is Rejection.OVERSIZE
    assert encode_article(article, len(encoded)) == encoded
