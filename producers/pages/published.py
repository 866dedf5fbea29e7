"""A page's own publication time (meta, JSON-LD, <time>), with its precision; never a date from the URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, Literal

import lxml.html
import orjson

Precision = Literal["day", "minute", "second"]
RANK: dict[Precision, int] = {"day": 0, "minute": 1, "second": 2}

# Where news sites state the publication time, most authoritative first.
META_KEYS = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.created",
    "date",
)
DAY_ONLY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
HAS_SECONDS = re.compile(r"T\d{2}:\d{2}:\d{2}")


@dataclass(frozen=True)
class Published:
    """A publication time as ISO-8601 with offset, and how precisely the page stated it."""

    at: str
    precision: Precision


def parse_stated_time(value: str, tz: tzinfo | None) -> Published | None:
    """One stated value: a date alone is ``day``; a datetime without offset takes ``tz`` or is refused.

    ``tz`` None means "do not guess an offset" (the web path); a day-only value needs no offset to be
    honest about, so it is kept at midnight UTC (or ``tz``) with precision ``day``.
    """
    day_only = DAY_ONLY.match(value)
    if day_only:
        try:
            day = date(int(day_only[1]), int(day_only[2]), int(day_only[3]))
        except ValueError:
            return None
        return Published(datetime.combine(day, time(0, 0), tzinfo=tz or UTC).isoformat(), "day")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if tz is None:
            return None
        parsed = parsed.replace(tzinfo=tz)
    precision: Precision = "second" if HAS_SECONDS.search(value) else "minute"
    return Published(parsed.isoformat(), precision)


def _meta_values(root: lxml.html.HtmlElement) -> Iterator[str]:
    """``content`` of <meta property|name|itemprop> in META_KEYS order, then itemprop=datePublished."""
    found: dict[str, list[str]] = {}
    for meta in root.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        content = meta.get("content")
        if key in META_KEYS and content:
            found.setdefault(key, []).append(content)
    for key in META_KEYS:
        yield from found.get(key, [])
    for element in root.xpath("//*[@itemprop='datePublished']"):
        value = element.get("datetime") or element.get("content")
        if value:
            yield value


def _json_ld_dates(node: Any) -> Iterator[str]:
    """Every datePublished in a JSON-LD value (objects, lists, @graph), depth-first."""
    if isinstance(node, dict):
        value = node.get("datePublished")
        if isinstance(value, str):
            yield value
        for child in node.values():
            if isinstance(child, dict | list):
                yield from _json_ld_dates(child)
    elif isinstance(node, list):
        for child in node:
            yield from _json_ld_dates(child)


def _json_ld_values(root: lxml.html.HtmlElement) -> Iterator[str]:
    for script in root.xpath("//script[@type='application/ld+json']"):
        try:
            yield from _json_ld_dates(orjson.loads((script.text or "").strip()))
        except orjson.JSONDecodeError:
            continue


def _time_element_values(root: lxml.html.HtmlElement) -> Iterator[str]:
    """<time datetime> inside <article> first (a sidebar's times belong to other stories)."""
    for path in ("//article//time[@datetime]", "//time[@datetime]"):
        for element in root.xpath(path):
            yield str(element.get("datetime"))


def stated_candidates(root: lxml.html.HtmlElement) -> Iterator[str]:
    """Raw stated values in order of authority: meta, JSON-LD, <time>."""
    yield from _meta_values(root)
    yield from _json_ld_values(root)
    yield from _time_element_values(root)


def published_time(root: lxml.html.HtmlElement, tz: tzinfo | None = None) -> Published | None:
    """The most authoritative stated time of the most precise kind found (a full time beats a date)."""
    best: Published | None = None
    for raw in stated_candidates(root):
        parsed = parse_stated_time(raw, tz)
        if parsed is not None and (best is None or RANK[parsed.precision] > RANK[best.precision]):
            best = parsed
            if parsed.precision != "day":
                return best
    return best
