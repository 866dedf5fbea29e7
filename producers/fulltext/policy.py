"""Full-text decisions without network I/O: when to fetch, outcome reasons, robots rules, host pacing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from protego import Protego


class FulltextMode(StrEnum):
    """A feed line's ``fulltext=``: fetch pages when the entry is short (auto), always, or never."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


class Outcome(StrEnum):
    """What one page fetch gave; the values are a metric label set, so keep it closed and small."""

    USED = "used"  # the page's main text replaced the feed text
    SHORTER = "shorter"  # the page yielded no more text than the feed had
    NO_TEXT = "no_text"  # fetched, but no main text found
    HTTP_ERROR = "http_error"
    ROBOTS = "robots_disallowed"
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"
    NETWORK = "network_error"
    NOT_HTML = "not_html"
    BAD_REDIRECT = "bad_redirect"  # to a non-http(s) URL, or too many hops
    BAD_URL = "bad_url"


@dataclass(frozen=True)
class FulltextOptions:
    """Limits and manners of page fetching (from Settings.fulltext_*)."""

    min_chars: int = 600
    user_agent: str = "newsmon-fulltext/0.1"
    timeout_s: float = 15.0
    max_bytes: int = 4 * 1024 * 1024
    per_host: int = 2
    host_delay_s: float = 1.0
    max_redirects: int = 5
    robots_ttl_s: float = 3600.0


def wants_fulltext(mode: FulltextMode, text: str, link: str, min_chars: int) -> bool:
    """Fetch the page for ``always``, or for ``auto`` when the entry's text is under ``min_chars``."""
    if mode is FulltextMode.NEVER or not is_web_url(link):
        return False
    return mode is FulltextMode.ALWAYS or (min_chars > 0 and len(text.strip()) < min_chars)


def is_web_url(url: str) -> bool:
    """http(s) with a host: the only URLs we fetch or follow a redirect to."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def origin(url: str) -> str:
    """scheme://host[:port] — the unit robots.txt and host pacing apply to."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


@dataclass
class RobotsRules:
    """One origin's robots.txt as fetched at ``fetched_at`` (monotonic seconds)."""

    parser: Protego | None  # None: everything allowed (no robots.txt)
    disallow_all: bool
    fetched_at: float

    @classmethod
    def from_response(cls, status: int | None, text: str, now: float) -> RobotsRules:
        """RFC 9309: 2xx is parsed; 4xx means no rules; 5xx or unreachable means disallow all for now."""
        if status is not None and 200 <= status < 300:
            return cls(Protego.parse(text), False, now)
        if status is not None and 400 <= status < 500:
            return cls(None, False, now)
        return cls(None, True, now)

    def allows(self, url: str, user_agent: str) -> bool:
        if self.disallow_all:
            return False
        return self.parser is None or bool(self.parser.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float:
        delay = self.parser.crawl_delay(user_agent) if self.parser is not None else None
        return float(delay or 0.0)


@dataclass
class _Host:
    slots: asyncio.Semaphore
    next_start: float = 0.0


@dataclass
class HostGate:
    """At most ``per_host`` fetches at once per origin, starts at least ``min_delay_s`` apart."""

    per_host: int
    min_delay_s: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    hosts: dict[str, _Host] = field(default_factory=dict)

    @asynccontextmanager
    async def slot(self, url: str, extra_delay_s: float = 0.0) -> AsyncIterator[None]:
        host = self.hosts.setdefault(origin(url), _Host(asyncio.Semaphore(self.per_host)))
        async with host.slots:
            # Reserve the start time before sleeping so that concurrent waiters queue up behind it.
            now = self.clock()
            start = max(now, host.next_start)
            host.next_start = start + max(self.min_delay_s, extra_delay_s)
            if start > now:
                await self.sleep(start - now)
            yield
