"""Parsing scraped pages: plain-text dumps like the seed, and saved HTML (via trafilatura)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo

from producers.pages.charset import decode_page
from producers.pages.page import parse_page
from producers.pages.published import Precision
from producers.text import tidy_whitespace

BULLETS = ("•", "·", "●", "▪")
# Whole lines that are page furniture, not article text (the seed has the first and the last).
BOILERPLATE_LINE = re.compile(r"^(news-picture|news-image|مشاركة\s*:?|share\s*:?|اطبع|print)$", re.IGNORECASE)
DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y")
TIME_FORMATS = ("%H:%M", "%H:%M:%S")


@dataclass(frozen=True)
class ScrapedPage:
    """What a scraped page yields before it becomes an article."""

    title: str
    body: str
    published_at: str | None
    url: str = ""
    published_precision: Precision | None = None  # "day" when the page gave a date without a time


def _parse_date(text: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _parse_clock(text: str) -> time | None:
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).time()
        except ValueError:
            continue
    return None


def _is_header_line(line: str) -> bool:
    """Blank, bullet metadata, boilerplate or a bare date/time line: never article text."""
    bare = line.strip().lstrip("".join(BULLETS)).strip()
    return (
        not bare
        or line.strip().startswith(BULLETS)
        or bool(BOILERPLATE_LINE.match(bare))
        or _parse_date(bare) is not None
        or _parse_clock(bare) is not None
    )


def _published_at(header: list[str], tz: tzinfo) -> tuple[str | None, Precision | None]:
    """The first date and the first time after it among header lines, in ``tz``; a date alone is "day"."""
    day: date | None = None
    clock: time | None = None
    for line in header:
        bare = line.strip().lstrip("".join(BULLETS)).strip()
        if day is None:
            day = _parse_date(bare)
        elif clock is None:
            clock = _parse_clock(bare)
    if day is None:
        return None, None
    precision: Precision = "day" if clock is None else ("second" if clock.second else "minute")
    return datetime.combine(day, clock or time(0, 0), tzinfo=tz).isoformat(), precision


def parse_scraped_text(text: str, tz: tzinfo) -> ScrapedPage:
    """Title (first non-blank line), date (header bullets), body without page furniture.

    Scraped dates carry no zone; ``tz`` says which one the site writes in.
    """
    lines = text.lstrip("\ufeff").splitlines()
    non_blank = [i for i, line in enumerate(lines) if line.strip()]
    if not non_blank:
        return ScrapedPage(title="", body="", published_at=None)
    title_at = non_blank[0]
    body_at = title_at + 1
    while body_at < len(lines) and _is_header_line(lines[body_at]):
        body_at += 1
    body_lines = [line for line in lines[body_at:] if not BOILERPLATE_LINE.match(line.strip())]
    published_at, precision = _published_at(lines[title_at + 1 : body_at], tz)
    return ScrapedPage(
        title=tidy_whitespace(lines[title_at]),
        body=tidy_whitespace("\n".join(body_lines)),
        published_at=published_at,
        published_precision=precision,
    )


def parse_html_page(html: str | bytes, tz: tzinfo) -> ScrapedPage:
    """Title, stated time, canonical URL and main text of a saved HTML page (producers.pages)."""
    text = decode_page(html) if isinstance(html, bytes) else html
    page = parse_page(text, tz=tz)
    return ScrapedPage(
        title=page.title,
        body=page.body,
        published_at=page.published_at,
        url=page.url,
        published_precision=page.published_precision,
    )
