"""A feed entry + its fetched page → the article fields: longer text, canonical URL, page time, language."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from producers.fulltext.fetcher import FetchedPage, PageFetcher
from producers.fulltext.policy import Outcome
from producers.language import detect_language
from producers.metrics import ProducerMetrics
from producers.pages.charset import decode_page
from producers.pages.page import Page, parse_page
from producers.pages.publisher import publisher_source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedContext:
    """What the feed line says about its entries' source and language."""

    named_source: str | None
    fallback_source: str
    feed_lang: str


def merge_page(
    fields: dict[str, object], page: Page, final_url: str, context: FeedContext
) -> tuple[dict[str, object], Outcome]:
    """The entry's fields improved by its page; the feed text stays when the page has no more text.

    The page's canonical URL (else the URL redirects ended at) replaces the entry link, so the id of
    one article reached through two feeds' tracking links is one id.
    """
    merged = dict(fields)
    merged["url"] = page.url or final_url or fields.get("url", "")
    feed_body = str(fields.get("body") or "")
    outcome = Outcome.USED if len(page.body) > len(feed_body) else Outcome.SHORTER
    if not page.body:
        outcome = Outcome.NO_TEXT
    if outcome is Outcome.USED:
        merged["body"] = page.body
    if not str(fields.get("title") or "").strip() and page.title:
        merged["title"] = page.title
    if page.published_at and (page.published_precision != "day" or not fields.get("published_at")):
        merged["published_at"] = page.published_at
        merged["published_precision"] = page.published_precision
    merged["lang"] = detect_language(f"{merged['title']} {merged['body']}", context.feed_lang)
    merged["source"] = publisher_source(context.named_source, str(merged["url"]), context.fallback_source)
    return merged, outcome


def page_of(fetched: FetchedPage) -> Page:
    """Decoded by its own charset and parsed (CPU-bound: run in a thread)."""
    return parse_page(decode_page(fetched.content, fetched.content_type), base_url=fetched.url)


class Enricher:
    """Fetches an entry's page and merges it in; any failure keeps the entry as the feed gave it."""

    def __init__(self, fetcher: PageFetcher, metrics: ProducerMetrics) -> None:
        self.fetcher = fetcher
        self.metrics = metrics

    async def enrich(self, fields: dict[str, object], context: FeedContext, where: str) -> dict[str, object]:
        started = time.perf_counter()
        link = str(fields.get("url") or "")
        fetched = await self.fetcher.fetch(link)
        if fetched.failure is not None:
            outcome, merged = fetched.failure, fields
            log.warning(
                "%s: full text of %s not used (%s): %s", where, link[:200], outcome.value, fetched.detail
            )
        else:
            page = await asyncio.to_thread(page_of, fetched)
            merged, outcome = merge_page(fields, page, fetched.url, context)
        self.metrics.fulltext.labels(outcome=outcome.value).inc()
        self.metrics.fulltext_seconds.observe(time.perf_counter() - started)
        return merged
