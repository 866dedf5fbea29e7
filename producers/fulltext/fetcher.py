"""Polite page fetching with aiohttp: robots.txt, host pacing, timeouts, a size cap, http(s) redirects."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp

from producers.fulltext.policy import FulltextOptions, HostGate, Outcome, RobotsRules, is_web_url, origin
from producers.http_body import read_at_most

log = logging.getLogger(__name__)

REDIRECTS = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")
ROBOTS_MAX_BYTES = 512 * 1024  # Google reads the first 500 KiB of a robots.txt


@dataclass(frozen=True)
class FetchedPage:
    """A page fetch's result: the bytes when ``outcome`` is USED-able (None), else the failure reason."""

    failure: Outcome | None
    detail: str
    url: str  # the final URL after redirects
    content: bytes = b""
    content_type: str | None = None


class FetchFailed(Exception):
    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


class PageFetcher:
    """Fetches article pages for one poller; every request honours robots.txt and the host gate."""

    def __init__(self, session: aiohttp.ClientSession, options: FulltextOptions) -> None:
        self.session = session
        self.options = options
        self.gate = HostGate(options.per_host, options.host_delay_s)
        self.robots: dict[str, RobotsRules] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}

    def _headers(self) -> dict[str, str]:
        return {"User-Agent": self.options.user_agent, "Accept": "text/html,application/xhtml+xml;q=0.9"}

    async def _read_capped(self, response: aiohttp.ClientResponse, limit: int) -> bytes:
        declared = response.content_length
        if declared is not None and declared > limit:
            raise FetchFailed(Outcome.TOO_LARGE, f"Content-Length {declared} > {limit} bytes")
        content = await read_at_most(response.content, limit)
        if len(content) > limit:
            raise FetchFailed(Outcome.TOO_LARGE, f"larger than {limit} bytes")
        return content

    async def _fetch_robots(self, site: str) -> RobotsRules:
        try:
            async with (
                asyncio.timeout(self.options.timeout_s),
                self.session.get(
                    site + "/robots.txt",
                    headers={"User-Agent": self.options.user_agent},
                    allow_redirects=True,
                    max_redirects=self.options.max_redirects,
                ) as response,
            ):
                body = (await read_at_most(response.content, ROBOTS_MAX_BYTES))[:ROBOTS_MAX_BYTES]
                return RobotsRules.from_response(
                    response.status, body.decode("utf-8", "replace"), time.monotonic()
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("robots.txt of %s unreachable (%s): not fetching from it for now", site, exc)
            return RobotsRules.from_response(None, "", time.monotonic())

    async def robots_for(self, url: str) -> RobotsRules:
        """The origin's rules, fetched once per ``robots_ttl_s`` (one fetch even under concurrency)."""
        site = origin(url)
        lock = self._robots_locks.setdefault(site, asyncio.Lock())
        async with lock:
            rules = self.robots.get(site)
            if rules is None or time.monotonic() - rules.fetched_at > self.options.robots_ttl_s:
                rules = self.robots[site] = await self._fetch_robots(site)
            return rules

    async def _get_once(self, url: str) -> tuple[int, str | None, str | None, bytes]:
        """One GET without following redirects: status, Location, Content-Type, body (capped)."""
        rules = await self.robots_for(url)
        if not rules.allows(url, self.options.user_agent):
            raise FetchFailed(Outcome.ROBOTS, "disallowed by robots.txt")
        # The deadline starts once the host lets us in: waiting our turn is politeness, not slowness.
        async with (
            self.gate.slot(url, rules.crawl_delay(self.options.user_agent)),
            asyncio.timeout(self.options.timeout_s),
            self.session.get(url, headers=self._headers(), allow_redirects=False) as response,
        ):
            if response.status in REDIRECTS:
                return response.status, response.headers.get("Location"), None, b""
            if response.status >= 400:
                raise FetchFailed(Outcome.HTTP_ERROR, f"HTTP {response.status}")
            content_type = response.headers.get("Content-Type")
            if content_type and not content_type.split(";")[0].strip().lower().startswith(HTML_TYPES):
                raise FetchFailed(Outcome.NOT_HTML, f"Content-Type {content_type[:64]}")
            return (
                response.status,
                None,
                content_type,
                await self._read_capped(response, self.options.max_bytes),
            )

    async def _follow(self, url: str) -> FetchedPage:
        for _hop in range(self.options.max_redirects + 1):
            status, location, content_type, content = await self._get_once(url)
            if location is None:
                if status in REDIRECTS:
                    raise FetchFailed(Outcome.BAD_REDIRECT, f"HTTP {status} without Location")
                return FetchedPage(None, "", url, content, content_type)
            target = urljoin(url, location)
            if not is_web_url(target):
                raise FetchFailed(Outcome.BAD_REDIRECT, f"redirect to a non-http(s) URL {target[:80]!r}")
            url = target
        raise FetchFailed(Outcome.BAD_REDIRECT, f"more than {self.options.max_redirects} redirects")

    async def fetch(self, url: str) -> FetchedPage:
        """The page at ``url`` or the named reason it could not be had; never raises for the network."""
        if not is_web_url(url):
            return FetchedPage(Outcome.BAD_URL, "not an http(s) URL", url)
        try:
            return await self._follow(url)
        except FetchFailed as failed:
            return FetchedPage(failed.outcome, str(failed), url)
        except TimeoutError:
            return FetchedPage(Outcome.TIMEOUT, f"no complete answer within {self.options.timeout_s:g}s", url)
        except (aiohttp.ClientError, UnicodeError, ValueError) as exc:
            return FetchedPage(Outcome.NETWORK, f"{type(exc).__name__}: {exc}"[:200], url)
