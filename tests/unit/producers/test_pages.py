"""Page parsing: stated publication times and their precision, charsets, canonical URL, publisher."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from producers.pages.charset import declared_charset, decode_page
from producers.pages.page import parse_page, parse_tree
from producers.pages.published import Published, parse_stated_time, published_time
from producers.pages.publisher import publisher_source

BAGHDAD = ZoneInfo("Asia/Baghdad")


def time_of(head: str, body: str = "", tz: ZoneInfo | None = None) -> Published | None:
    root = parse_tree(f"<html><head>{head}</head><body>{body}</body></html>")
    assert root is not None
    return published_time(root, tz)


@pytest.mark.parametrize(
    ("value", "tz", "expected"),
    [
        ("2016-10-22T09:30:00+03:00", None, Published("2016-10-22T09:30:00+03:00", "second")),
        ("2016-10-22T09:30+03:00", None, Published("2016-10-22T09:30:00+03:00", "minute")),
        ("2016-10-22T06:30:00Z", None, Published("2016-10-22T06:30:00+00:00", "second")),
        ("2016-10-22", None, Published("2016-10-22T00:00:00+00:00", "day")),
        ("2016-10-22", BAGHDAD, Published("2016-10-22T00:00:00+03:00", "day")),
        ("2016-10-22T09:30:00", None, None),  # no offset and none given: not guessed
        ("2016-10-22T09:30:00", BAGHDAD, Published("2016-10-22T09:30:00+03:00", "second")),
        ("22 October 2016", None, None),
        ("2016-02-30", None, None),
    ],
)
def test_stated_time_values(value: str, tz: ZoneInfo | None, expected: Published | None) -> None:
    assert parse_stated_time(value, tz) == expected


def test_meta_json_ld_and_time_element_in_order_of_authority() -> None:
    meta = '<meta property="article:published_time" content="2016-10-22T09:30:00+03:00">'
    json_ld = '<script type="application/ld+json">{"@graph": [{"@type": "NewsArticle", "datePublished": "2016-10-21T08:00:00+02:00"}]}</script>'
    element = '<article><time datetime="2016-10-20T07:00:00+01:00">Oct 20</time></article>'
    assert time_of(meta + json_ld, element) == Published("2016-10-22T09:30:00+03:00", "second")
    assert time_of(json_ld, element) == Published("2016-10-21T08:00:00+02:00", "second")
    assert time_of("", '<aside><time datetime="2001-01-01T00:00:00Z"></time></aside>' + element) == Published(
        "2016-10-20T07:00:00+01:00", "second"
    )  # the article's <time>, not a sidebar's
    assert time_of('<script type="application/ld+json">{not json</script>') is None


def test_a_full_time_beats_a_bare_date_and_a_bare_date_is_day() -> None:
    day_meta = '<meta property="article:published_time" content="2016-10-22">'
    assert time_of(day_meta) == Published("2016-10-22T00:00:00+00:00", "day")
    assert time_of(day_meta, '<time datetime="2016-10-22T09:30+03:00"></time>') == Published(
        "2016-10-22T09:30:00+03:00", "minute"
    )


def test_dated_url_page_keeps_its_stated_time() -> None:
    html = (
        '<html><head><link rel="canonical" href="https://news.test/2016/10/22/carter?utm_source=x">'
        '<meta property="article:published_time" content="2016-10-22T09:30:00+03:00"></head>'
        "<body><article><h1>Carter in Ankara</h1><p>"
        + "Carter met Erdogan in Ankara. " * 20
        + "</p></article></body></html>"
    )
    page = parse_page(html)
    assert (page.published_at, page.published_precision) == ("2016-10-22T09:30:00+03:00", "second")
    assert page.url == "https://news.test/2016/10/22/carter" and page.title == "Carter in Ankara"


def test_charset_from_header_then_meta_then_detection() -> None:
    arabic = "اتفقت الولايات المتحدة وتركيا على تعزيز الجهود المشتركة"
    page = f'<html><head><meta charset="windows-1256"></head><body><p>{arabic}</p></body></html>'.encode(
        "cp1256"
    )
    assert declared_charset(page, None) == "cp1256"
    assert arabic in decode_page(page)
    assert declared_charset(page, "text/html; charset=UTF-8") == "utf-8"
    assert declared_charset(b"<html>", "text/html; charset=klingon") is None
    assert decode_page("<p>ok é</p>".encode()) == "<p>ok é</p>"


def test_publisher_source_rule() -> None:
    assert publisher_source("Reuters", "https://www.aljazeera.net/news/1", "seed") == "Reuters"
    assert publisher_source(None, "https://www.aljazeera.net/news/1", "seed") == "aljazeera.net"
    assert publisher_source(None, "", "seed") == "seed"
