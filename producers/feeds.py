"""RSS/Atom logic without I/O: the feed list, entries → article fields, poll schedule and back-off."""

from __future__ import annotations

import calendar
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from producers.fulltext.policy import FulltextMode
from producers.language import detect_language
from producers.pages.publisher import publisher_source
from producers.text import html_to_text

log = logging.getLogger(__name__)

# "#" opens a comment at the start of a line or after whitespace (a URL may hold "#" itself).
TRAILING_COMMENT = re.compile(r"\s#")
# feedparser flags these although the document parsed fine (wrong or missing Content-Type, charset).
BENIGN_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


class FeedError(Exception):
    """A feed that could not be fetched or parsed this time."""


@dataclass
class FeedState:
    """One feed and what the poller remembers about it between polls."""

    url: str
    source: str  # the named source, else the feed's host
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    next_due: float = 0.0
    interval_s: float | None = None  # None: the poller's default interval
    named: bool = False  # the feed line names the source: it overrides the publisher's host
    name: str = ""  # the feed's metrics label and --check row (name=, else the source)
    fulltext: FulltextMode = FulltextMode.AUTO
    last_success: float | None = None  # unix seconds
    newest_entry: float | None = None  # unix seconds of the newest dated entry seen
    last_error: str = ""

    @property
    def label(self) -> str:
        return self.name or self.source


@dataclass(frozen=True)
class ParsedFeed:
    """A feed document's entries as article fields, and the language the feed declares."""

    entries: list[dict[str, object]]
    lang: str


def source_from_url(url: str) -> str:
    """A feed's default source name: its host without a leading www."""
    host = (urlsplit(url).hostname or "feed").lower()
    return host.removeprefix("www.")


def _feed_line(parts: list[str]) -> FeedState:
    """URL, then ``every=SECONDS``, ``fulltext=auto|always|never``, ``name=LABEL`` and source words."""
    interval_s: float | None = None
    fulltext = FulltextMode.AUTO
    label = ""
    words: list[str] = []
    for word in parts[1:]:
        key, _, value = word.partition("=")
        if key == "every":
            interval_s = float(value)
        elif key == "fulltext":
            fulltext = FulltextMode(value)
        elif key == "name":
            label = value
        else:
            words.append(word)
    named = " ".join(words)
    return FeedState(
        url=parts[0],
        source=named or source_from_url(parts[0]),
        interval_s=interval_s,
        named=bool(named),
        name=label,
        fulltext=fulltext,
    )


def _unique_labels(feeds: list[FeedState]) -> None:
    """Feeds sharing a label (two feeds of one host) get ``-2``, ``-3``: one metrics series each."""
    used: set[str] = set()
    for feed in feeds:
        label, n = feed.label, 1
        while label in used:
            n += 1
            label = f"{feed.label}-{n}"
        feed.name = label
        used.add(label)


def parse_feed_list(text: str) -> list[FeedState]:
    """Feed list file: one URL per line, optionally ``every=SECONDS`` and a source name; `#` comments."""
    feeds: list[FeedState] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        parts = TRAILING_COMMENT.split(stripped, maxsplit=1)[0].split()
        if not parts or parts[0] in seen:
            continue
        try:
            feeds.append(_feed_line(parts))
        except ValueError:
            raise ValueError(
                f"feed list line {number}: bad every=SECONDS or fulltext=auto|always|never in {stripped!r}"
            ) from None
        seen.add(parts[0])
    _unique_labels(feeds)
    return feeds


def _entry_time(entry: Mapping[str, Any], feed_url: str) -> str | None:
    """published (else updated) as UTC ISO-8601; feedparser has already applied the entry's offset."""
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if parsed is not None:
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC).isoformat()
    raw = entry.get("published") or entry.get("updated")
    if raw:
        link = str(entry.get("link", ""))[:200]
        log.warning("%s: entry %s has an unparseable date %r; dropped", feed_url, link, str(raw)[:64])
    return None


def _entry_body(entry: Mapping[str, Any]) -> str:
    """Full content when the feed carries it, else the summary/description, as plain text."""
    contents = entry.get("content") or []
    for content in contents:
        if content.get("value"):
            return html_to_text(str(content["value"]))
    return html_to_text(str(entry.get("summary", "")))


def _language(code: str) -> str:
    """Primary subtag of a language tag ("en-US" → "en")."""
    return code.split("-")[0].split("_")[0].strip().lower()


def entry_fields(entry: Mapping[str, Any], feed: FeedState, feed_lang: str) -> dict[str, object]:
    """Article fields of one feed entry (id derived later from the link).

    Language: identified from the text; the feed's declared language only when the text is too short.
    Source: the feed line's name, else the publisher (the link's host), else the feed's host.
    """
    title = html_to_text(str(entry.get("title", "")))
    body = _entry_body(entry)
    link = str(entry.get("link", ""))
    return {
        "url": link,
        "title": title,
        "body": body,
        "lang": detect_language(title + " " + body, feed_lang),
        "source": publisher_source(feed.source if feed.named else None, link, feed.source),
        "published_at": _entry_time(entry, feed.url),
    }


def parse_feed(content: bytes, feed: FeedState, content_type: str | None = None) -> ParsedFeed:
    """Article fields of every entry; FeedError when the bytes are not an RSS/Atom feed at all.

    A feed that is not well-formed but from which feedparser's lenient parser recovered entries is
    used, with a warning: dropping a whole feed for one stray ampersand loses the news.
    """
    headers = {"content-location": feed.url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(content, response_headers=headers)
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if isinstance(problem, BENIGN_BOZO):
        problem = None
    if problem is not None and not parsed.entries:
        raise FeedError(f"malformed feed: {problem}")
    if not parsed.get("version") and not parsed.entries:
        raise FeedError("not an RSS or Atom document")
    if problem is not None:
        log.warning("%s: not well-formed (%s); %d entries recovered", feed.url, problem, len(parsed.entries))
    feed_lang = _language(str(parsed.feed.get("language", "")))
    return ParsedFeed([entry_fields(entry, feed, feed_lang) for entry in parsed.entries], feed_lang)


def newest_entry_time(entries: list[dict[str, object]]) -> float | None:
    """Unix seconds of the newest published_at among entries (feeds write them in UTC)."""
    times = [
        datetime.fromisoformat(str(e["published_at"])).timestamp() for e in entries if e.get("published_at")
    ]
    return max(times, default=None)


def next_delay(
    interval_s: float, failures: int, *, jitter: float, max_backoff_s: float, random_unit: float
) -> float:
    """Seconds until the next poll: the interval, doubled per consecutive failure up to a cap, ± jitter.

    ``random_unit`` in [0, 1) comes from the caller so this stays pure; jitter spreads feeds that
    started together so they do not poll in lockstep.
    """
    base = interval_s if failures == 0 else min(max_backoff_s, interval_s * 2.0**failures)
    return base * (1.0 + jitter * (2.0 * random_unit - 1.0))


def schedule_next(
    state: FeedState,
    interval_s: float,
    *,
    jitter: float,
    max_backoff_s: float,
    random_unit: float,
    now: float | None = None,
    not_before_s: float = 0.0,
) -> None:
    """Set ``state.next_due`` (monotonic seconds); ``not_before_s`` honours a server's Retry-After."""
    delay = next_delay(
        interval_s, state.failures, jitter=jitter, max_backoff_s=max_backoff_s, random_unit=random_unit
    )
    state.next_due = (time.monotonic() if now is None else now) + max(delay, not_before_s)
