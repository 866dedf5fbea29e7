"""The ``rss`` producer's I/O: conditional fetches with aiohttp, dedupe, and the polling loop."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from producers.dedupe import SeenStore
from producers.feeds import FeedError, FeedState, ParsedFeed, newest_entry_time, parse_feed, schedule_next
from producers.fulltext.enrich import Enricher, FeedContext
from producers.fulltext.policy import wants_fulltext
from producers.health import FeedCheck, check_row
from producers.http_body import read_at_most
from producers.ids import article_id
from producers.intake import Intake

log = logging.getLogger(__name__)

MAX_FEED_BYTES = 16 * 1024 * 1024
USER_AGENT = "newsmon-feed-poller/0.1"


@dataclass(frozen=True)
class PollOptions:
    """How often and how patiently feeds are polled."""

    interval_s: float = 300.0
    jitter: float = 0.1
    max_backoff_s: float = 3600.0
    timeout_s: float = 20.0


@dataclass(frozen=True)
class Fetched:
    """A feed response worth parsing (None content means 304 Not Modified)."""

    content: bytes | None
    content_type: str | None
    etag: str | None
    last_modified: str | None


def retry_after_seconds(value: str | None) -> float:
    """A numeric Retry-After header in seconds (HTTP-date forms are ignored: back-off covers them)."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _conditional_headers(state: FeedState) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, */*;q=0.5"}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


class HTTPFeedError(FeedError):
    """An HTTP error status; carries Retry-After when the server sent one."""

    def __init__(self, status: int, retry_after_s: float) -> None:
        super().__init__(f"HTTP {status}")
        self.retry_after_s = retry_after_s


async def fetch_feed(session: aiohttp.ClientSession, state: FeedState, timeout_s: float) -> Fetched:
    """GET with If-None-Match/If-Modified-Since; FeedError for network errors, HTTP ≥ 400 or oversize."""
    try:
        async with session.get(
            state.url, headers=_conditional_headers(state), timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as response:
            if response.status == 304:
                return Fetched(None, None, state.etag, state.last_modified)
            if response.status >= 400:
                raise HTTPFeedError(response.status, retry_after_seconds(response.headers.get("Retry-After")))
            content = await read_at_most(response.content, MAX_FEED_BYTES)
            if len(content) > MAX_FEED_BYTES:
                raise FeedError(f"larger than {MAX_FEED_BYTES} bytes")
            return Fetched(
                content,
                response.headers.get("Content-Type"),
                response.headers.get("ETag"),
                response.headers.get("Last-Modified"),
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FeedError(f"{type(exc).__name__}: {exc}") from None


class FeedPoller:
    """Polls feeds on their own schedules; a failing feed backs off and never stops the others."""

    def __init__(
        self,
        feeds: list[FeedState],
        intake: Intake,
        seen: SeenStore,
        options: PollOptions,
        rng: random.Random | None = None,
        undelivered: deque[str] | None = None,
        enricher: Enricher | None = None,
        fulltext_min_chars: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.feeds = feeds
        self.intake = intake
        self.seen = seen
        self.options = options
        self.rng = rng or random.Random()
        # Ids whose Kafka delivery failed (filled from the client's I/O thread through the
        # publisher's failure hook): their claims are released so the next poll publishes them again.
        self.undelivered: deque[str] = deque() if undelivered is None else undelivered
        self.failed_polls = 0
        self.enricher = enricher
        self.fulltext_min_chars = fulltext_min_chars
        self.clock = clock  # monotonic seconds: when feeds are due (a test passes a fake one)
        self.sleep = sleep
        # The feeds being polled now, one task each: a feed whose entries wait for their pages (host
        # pacing, slow servers) is not polled again until they are done, and holds up no other feed.
        self.in_flight: dict[int, asyncio.Task[None]] = {}  # by the feed's position in `feeds`
        for state in feeds:
            self.intake.metrics.feed_failures.labels(feed=state.label).set(0)

    def _record_health(self, state: FeedState) -> None:
        """The feed's health gauges from its state (unknown times stay absent, not 0)."""
        metrics = self.intake.metrics
        metrics.feed_failures.labels(feed=state.label).set(state.failures)
        if state.last_success is not None:
            metrics.feed_last_success.labels(feed=state.label).set(state.last_success)
        if state.newest_entry is not None:
            metrics.feed_newest_entry.labels(feed=state.label).set(state.newest_entry)

    async def _release_undelivered(self) -> None:
        while self.undelivered:
            await self.seen.release(self.undelivered.popleft())

    def _schedule(self, state: FeedState, not_before_s: float = 0.0) -> None:
        schedule_next(
            state,
            state.interval_s or self.options.interval_s,
            jitter=self.options.jitter,
            max_backoff_s=self.options.max_backoff_s,
            random_unit=self.rng.random(),
            now=self.clock(),
            not_before_s=not_before_s,
        )

    def _failed(self, state: FeedState, error: FeedError) -> None:
        state.failures += 1
        state.last_error = str(error)
        self.failed_polls += 1
        self.intake.metrics.feed_errors.inc()
        self._record_health(state)
        log.error("feed %s: %s (failure %d in a row)", state.url, error, state.failures)
        self._schedule(state, getattr(error, "retry_after_s", 0.0))

    async def _publish_fields(self, fields: dict[str, object], where: str) -> bool:
        """Validate, claim and send one entry; True when handed to the sink."""
        article = self.intake.accept_fields(fields, where)
        if article is None:
            return False
        if not await self.seen.claim(article.id):
            self.intake.metrics.deduplicated.inc()
            return False
        if self.intake.send(article, where, wait_when_full=False):
            return True
        await self.seen.release(article.id)
        return False

    async def _publish_enriched(
        self, enricher: Enricher, fields: dict[str, object], context: FeedContext, where: str
    ) -> bool:
        """Fetch the entry's page, then publish; the entry link is claimed first so that later polls
        do not fetch the page again, and the canonical URL's id too, so a second feed's copy is a dupe."""
        link_id = article_id(str(fields.get("url") or ""), "", "")
        if not await self.seen.claim(link_id):
            self.intake.tally.read += 1
            self.intake.metrics.deduplicated.inc()
            return False
        merged = await enricher.enrich(fields, context, where)
        article = self.intake.accept_fields(merged, where)
        if article is None:
            return False
        if article.id != link_id and not await self.seen.claim(article.id):
            self.intake.metrics.deduplicated.inc()
            return False
        if self.intake.send(article, where, wait_when_full=False):
            return True
        for claimed in {link_id, article.id}:
            await self.seen.release(claimed)
        return False

    def _wants_page(self, state: FeedState, fields: dict[str, object]) -> bool:
        return self.enricher is not None and wants_fulltext(
            state.fulltext,
            str(fields.get("body") or ""),
            str(fields.get("url") or ""),
            self.fulltext_min_chars,
        )

    async def _publish_new(self, state: FeedState, feed: ParsedFeed) -> int:
        """Publish entries not seen before; the number published.

        Entries that need their page go concurrently after the others, each as soon as its own page
        is in (or failed), so a slow or broken page delays no other entry.
        """
        context = FeedContext(state.source if state.named else None, state.source, feed.lang)
        published = 0
        with_pages = []
        for number, fields in enumerate(feed.entries, start=1):
            where = f"{state.url} entry {number}"
            if self.enricher is not None and self._wants_page(state, fields):
                with_pages.append(self._publish_enriched(self.enricher, fields, context, where))
            elif await self._publish_fields(fields, where):
                published += 1
        return published + sum(await asyncio.gather(*with_pages))

    async def poll_one(self, session: aiohttp.ClientSession, state: FeedState) -> None:
        """Fetch, parse and publish one feed, then schedule its next poll; never raises FeedError."""
        await self._release_undelivered()
        try:
            fetched = await fetch_feed(session, state, self.options.timeout_s)
            if fetched.content is None:
                log.debug("feed %s: not modified", state.url)
                state.failures, state.last_success = 0, time.time()
                self._record_health(state)
                self._schedule(state)
                return
            feed = parse_feed(fetched.content, state, fetched.content_type)
        except FeedError as error:
            self._failed(state, error)
            return
        self._succeeded(state, feed)
        published = await self._publish_new(state, feed)
        state.etag, state.last_modified = fetched.etag, fetched.last_modified
        log.info("feed %s: %d entries, %d new", state.url, len(feed.entries), published)
        self._schedule(state)

    def _succeeded(self, state: FeedState, feed: ParsedFeed) -> None:
        state.failures, state.last_error, state.last_success = 0, "", time.time()
        newest = newest_entry_time(feed.entries)
        if newest is not None:
            state.newest_entry = max(newest, state.newest_entry or newest)
        self._record_health(state)

    async def poll_all_once(self, session: aiohttp.ClientSession) -> None:
        """Every feed once, concurrently."""
        await asyncio.gather(*(self.poll_one(session, state) for state in self.feeds))

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        """Poll due feeds until ``stop`` is set; the first round starts at once, spread by jitter.

        Each due feed is polled in a task of its own (at most one per feed), so a feed whose pages
        wait on a host's pacing never delays another feed's poll. On stop, polls in flight finish
        (a page fetch is bounded by its timeout): their entries are claimed, and must be sent.
        """
        for state in self.feeds:
            state.next_due = self.clock() + self.rng.random() * self.options.jitter * (
                state.interval_s or self.options.interval_s
            )
        while not stop.is_set():
            self._start_due(session)
            await self._wait_for_work(stop)
            self._reap()
        if self.in_flight:
            await asyncio.wait(self.in_flight.values())
            self._reap()

    def _start_due(self, session: aiohttp.ClientSession) -> None:
        now = self.clock()
        for index, state in enumerate(self.feeds):
            if state.next_due <= now and index not in self.in_flight:
                self.in_flight[index] = asyncio.create_task(self.poll_one(session, state))

    async def _wait_for_work(self, stop: asyncio.Event) -> None:
        """Until a poll ends, the next idle feed is due, or ``stop`` is set."""
        idle = [state.next_due for index, state in enumerate(self.feeds) if index not in self.in_flight]
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
        if idle:
            waiters.add(asyncio.ensure_future(self.sleep(max(0.05, min(idle) - self.clock()))))
        try:
            await asyncio.wait({*waiters, *self.in_flight.values()}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _reap(self) -> None:
        """Forget finished polls (re-raising what poll_one does not handle) and flush what they sent."""
        done = [index for index, task in self.in_flight.items() if task.done()]
        for index in done:
            self.in_flight.pop(index).result()
        if done:
            self.intake.sink.flush()


async def check_feeds(
    session: aiohttp.ClientSession, feeds: list[FeedState], timeout_s: float, silent_after_s: float
) -> list[FeedCheck]:
    """Fetch and parse every feed once, publishing nothing: one health row per feed."""

    async def check(state: FeedState) -> FeedCheck:
        try:
            fetched = await fetch_feed(session, state, timeout_s)
            feed = parse_feed(fetched.content or b"", state, fetched.content_type)
        except FeedError as error:
            return check_row(
                state.label,
                state.url,
                error=str(error),
                entries=0,
                newest=None,
                silent_after_s=silent_after_s,
            )
        newest = newest_entry_time(feed.entries)
        return check_row(
            state.label,
            state.url,
            error="",
            entries=len(feed.entries),
            newest=newest,
            silent_after_s=silent_after_s,
        )

    return list(await asyncio.gather(*(check(state) for state in feeds)))
