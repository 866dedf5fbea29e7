"""Full text over loopback HTTP: the seed's pages replace summaries; every failure falls back, counted."""

from __future__ import annotations

import asyncio
import io
import os
import random
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from producers.dedupe import MemorySeenStore
from producers.feeds import parse_feed_list
from producers.fulltext.enrich import Enricher
from producers.fulltext.fetcher import PageFetcher
from producers.fulltext.policy import FulltextOptions, Outcome
from producers.ids import article_id
from producers.intake import Intake
from producers.metrics import ProducerMetrics
from producers.poller import FeedPoller, PollOptions
from producers.publisher import StdoutSink
from streams.model.article import parse_time
from tests.unit.producers.pagesite import ARABIC_FOR_1256, SEED_PAGE, Site, make_site_app

OPTIONS = FulltextOptions(
    min_chars=600,
    user_agent="newsmon-test",
    timeout_s=1.0,
    max_bytes=1024 * 1024,
    per_host=2,
    host_delay_s=0.0,
)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    state = Site()
    runner = web.AppRunner(make_site_app(state), shutdown_timeout=0.1, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield state
    await runner.cleanup()


def words(text: object) -> str:
    return " ".join(str(text).split())


async def poll(
    lines: list[str], options: FulltextOptions = OPTIONS
) -> tuple[list[dict[str, object]], ProducerMetrics]:
    stream = io.BytesIO()
    metrics = ProducerMetrics(CollectorRegistry())
    intake = Intake(StdoutSink(stream, metrics, "rss", 1 << 20), metrics)
    poller = FeedPoller(
        parse_feed_list("\n".join(lines)), intake, MemorySeenStore(), PollOptions(timeout_s=5), random.Random(1),
        fulltext_min_chars=options.min_chars,
    )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        poller.enricher = Enricher(PageFetcher(session, options), metrics)
        for state in poller.feeds:
            await poller.poll_one(session, state)
    return [orjson.loads(line) for line in stream.getvalue().splitlines()], metrics


def outcomes(metrics: ProducerMetrics) -> dict[str, int]:
    counts = {
        o.value: metrics.registry.get_sample_value(
            "newsmon_producer_fulltext_fetches_total", {"outcome": o.value}
        )
        for o in Outcome
    }
    return {k: int(v or 0) for k, v in counts.items() if v}


async def test_summary_feed_gets_the_seed_text_and_each_failure_falls_back_counted(site: Site) -> None:
    articles, metrics = await poll([f"{site.base}/feed.xml"])
    by_title = {a["title"]: a for a in articles}
    assert len(articles) == 11  # no entry is lost
    summary = words(SEED_PAGE.body.split(". ")[0] + ".")
    for n, title in enumerate(["الخبر الأول", "الخبر الثاني", "الخبر الثالث"], start=1):
        article = by_title[title]
        assert words(article["body"]) == words(SEED_PAGE.body)  # the page's main text, not the summary
        assert article["url"] == f"{site.base}/news/{n}"  # canonical, tracking parameters dropped
        assert article["id"] == article_id(f"{site.base}/news/{n}", "", "")
        assert (article["lang"], article["source"]) == ("ar", "127.0.0.1")
        assert (article["published_at"], article["published_precision"]) == (
            "2016-10-22T10:00:00+03:00",
            "second",
        )
    for title in ["صفحة مفقودة", "صفحة ممنوعة", "صفحة ضخمة", "صفحة بطيئة", "تحويل ممنوع"]:
        assert words(by_title[title]["body"]) == summary  # the feed's text is kept
        assert "published_precision" not in by_title[title]
    assert outcomes(metrics) == {
        "used": 6, "http_error": 1, "robots_disallowed": 1, "too_large": 1, "timeout": 1, "bad_redirect": 1,
    }  # fmt: skip
    # The slow page held up nobody: every other entry was published before its timeout ended it.
    assert articles[-1]["title"] == "صفحة بطيئة"
    assert site.hits.get("/private/secret") is None and site.hits["/robots.txt"] == 1
    assert site.max_in_flight == OPTIONS.per_host  # robots.txt is read first, alone


async def test_windows_1256_page_dated_url_and_date_only_page(site: Site) -> None:
    articles, _ = await poll([f"{site.base}/feed.xml"])
    by_title = {a["title"]: a for a in articles}
    cp1256 = by_title["صفحة بترميز ويندوز"]
    assert words(cp1256["body"]).startswith(ARABIC_FOR_1256)
    dated = by_title["رابط مؤرخ"]
    assert dated["published_at"] == "2016-10-22T09:30:00+03:00"  # not 00:00 from the /2016/10/22/ path
    assert parse_time(dated["published_at"]) == datetime(2016, 10, 22, 6, 30, tzinfo=UTC)
    assert dated["url"] == f"{site.base}/2016/10/22/dated"
    day = by_title["تاريخ بلا وقت"]
    # The feed's own time is kept over the page's bare date; the page's date would say only "day".
    assert (day["published_at"], day.get("published_precision")) == ("2016-10-22T07:00:00+00:00", None)


async def test_tracking_redirect_gives_the_canonical_id_so_two_feeds_publish_one_article(site: Site) -> None:
    articles, metrics = await poll([f"{site.base}/feed.xml", f"{site.base}/tracking.xml fulltext=always"])
    assert [a["url"] for a in articles].count(f"{site.base}/news/1") == 1
    assert metrics.registry.get_sample_value("newsmon_producer_articles_deduplicated_total") == 1
    assert site.hits["/click"] == 1


async def test_fulltext_never_and_a_zero_threshold_fetch_nothing(site: Site) -> None:
    articles, metrics = await poll([f"{site.base}/feed.xml fulltext=never"])
    assert len(articles) == 11 and outcomes(metrics) == {}
    articles, metrics = await poll([f"{site.base}/feed.xml"], FulltextOptions(min_chars=0, timeout_s=1.0))
    assert len(articles) == 11 and outcomes(metrics) == {} and set(site.hits) == {"/feed.xml"}


async def test_per_host_concurrency_is_bounded(site: Site) -> None:
    one_at_a_time = FulltextOptions(
        min_chars=600, timeout_s=1.0, max_bytes=1024 * 1024, per_host=1, host_delay_s=0.0
    )
    await poll([f"{site.base}/feed.xml"], one_at_a_time)
    assert site.max_in_flight == 1


async def test_rss_command_fetches_full_text_with_its_options(site: Site, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{site.base}/feed.xml name=site\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "producers", "rss", str(feeds), "--once", "--stdout", "--page-timeout", "1",
        "--metrics-port", "0", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NEWSMON_FULLTEXT_HOST_DELAY_SECONDS": "0"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    articles = [orjson.loads(line) for line in out.splitlines()]
    assert process.returncode == 0, err.decode()[-2000:]
    assert len(articles) == 11
    assert sum(words(a["body"]) == words(SEED_PAGE.body) for a in articles) == 5  # news/1-3, dated, date-only
    reasons = re.findall(r"not used \((\w+)\)", err.decode())
    assert sorted(reasons) == ["bad_redirect", "http_error", "robots_disallowed", "timeout", "too_large"]
