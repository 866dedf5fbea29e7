"""Article ids: URL canonicalization and the title+body fallback."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.ids import article_id, canonical_url, is_tracking_param


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://News.Example.COM/a/B?x=1", "https://news.example.com/a/B?x=1"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a?utm_source=x&utm_medium=rss&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1&c=", "https://example.com/a?a=1&b=2&c="),
        ("https://example.com", "https://example.com/"),
        ("  https://example.com/a  ", "https://example.com/a"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_tracking_params_are_recognised_case_insensitively() -> None:
    assert is_tracking_param("UTM_Campaign")
    assert is_tracking_param("fbclid")
    assert not is_tracking_param("id")
    assert not is_tracking_param("page")


def test_id_is_sha256_of_canonical_url() -> None:
    url = "https://Example.com/news/1?utm_source=feed#top"
    expected = hashlib.sha256(b"https://example.com/news/1").hexdigest()
    assert article_id(url, "title", "body") == expected
    assert article_id("https://example.com/news/1", "other", "text") == expected


def test_id_without_url_comes_from_title_and_body() -> None:
    first = article_id("", "عنوان", "نص")
    assert first == article_id("  ", "عنوان", "نص")
    assert first != article_id("", "عنوان", "نص آخر")
    assert article_id("", "ab", "c") != article_id("", "a", "bc")
    assert len(first) == 64 and all(c in "0123456789abcdef" for c in first)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "utm_source", "fbclid", "page"]), st.text("xyz09", max_size=3)),
        max_size=6,
    )
)
def test_canonicalization_is_idempotent_and_order_free(params: list[tuple[str, str]]) -> None:
    query = "&".join(f"{k}={v}" for k, v in params)
    url = f"https://Example.org/p?{query}#frag"
    once = canonical_url(url)
    assert canonical_url(once) == once
    reordered = "&".join(f"{k}={v}" for k, v in reversed(params))
    assert canonical_url(f"https://example.org/p?{reordered}") == once
    assert "utm_" not in once and "fbclid" not in once
