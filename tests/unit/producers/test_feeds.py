"""RSS/Atom: parsing real documents served over HTTP, conditional GETs, failures, dedupe, back-off."""

from __future__ import annotations

import io
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from producers.dedupe import MemorySeenStore
from producers.feeds import FeedError, FeedState, next_delay, parse_feed, parse_feed_list, schedule_next
from producers.ids import article_id
from producers.intake import Intake
from producers.metrics import ProducerMetrics
from producers.poller import FeedPoller, PollOptions
from producers.publisher import StdoutSink

FEEDS = Path(__file__).resolve().parents[2] / "fixtures" / "feeds"
ETAG = '"v1"'
LAST_MODIFIED = "Sat, 22 Oct 2016 12:00:00 GMT"


@dataclass
class FeedServer:
    base: str
    hits: dict[str, int] = field(default_factory=dict)
    not_modified: int = 0


def make_feed_app(server: FeedServer) -> web.Application:
    async def rss(request: web.Request) -> web.Response:
        server.hits["rss"] = server.hits.get("rss", 0) + 1
        if request.headers.get("If-None-Match") == ETAG:
            server.not_modified += 1
            return web.Response(status=304)
        body = (FEEDS / "rss-ar.xml").read_bytes()
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": ETAG})

    async def atom(request: web.Request) -> web.Response:
        server.hits["atom"] = server.hits.get("atom", 0) + 1
        if request.headers.get("If-Modified-Since") == LAST_MODIFIED:
            server.not_modified += 1
            return web.Response(status=304)
        body = (FEEDS / "atom-en.xml").read_bytes()
        return web.Response(
            body=body, content_type="application/atom+xml", headers={"Last-Modified": LAST_MODIFIED}
        )

    async def broken(_request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom", headers={"Retry-After": "120"})

    async def malformed(_request: web.Request) -> web.Response:
        return web.Response(body=(FEEDS / "malformed.xml").read_bytes(), content_type="application/rss+xml")

    async def html(_request: web.Request) -> web.Response:
        return web.Response(text="<html><body>not a feed</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/rss-ar.xml", rss)
    app.router.add_get("/atom-en.xml", atom)
    app.router.add_get("/broken", broken)
    app.router.add_get("/malformed.xml", malformed)
    app.router.add_get("/page.html", html)
    return app


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer(base="")
    runner = web.AppRunner(make_feed_app(server))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.base = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_poller(urls: list[str]) -> tuple[FeedPoller, io.BytesIO, ProducerMetrics]:
    stream = io.BytesIO()
    metrics = ProducerMetrics(CollectorRegistry())
    intake = Intake(StdoutSink(stream, metrics, "rss", 1 << 20), metrics)
    feeds = parse_feed_list("\n".join(urls))
    options = PollOptions(interval_s=60, jitter=0.1, max_backoff_s=600, timeout_s=3)
    return FeedPoller(feeds, intake, MemorySeenStore(), options, random.Random(1)), stream, metrics


def published(stream: io.BytesIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


async def test_rss_and_atom_are_published_with_text_dates_and_ids(feed_server: FeedServer) -> None:
    poller, stream, _ = make_poller([f"{feed_server.base}/rss-ar.xml", f"{feed_server.base}/atom-en.xml"])
    async with aiohttp.ClientSession() as session:
        await poller.poll_all_once(session)
    by_url = {a["url"]: a for a in published(stream)}
    assert len(by_url) == 4
    ar = by_url["http://news.test/ar/1?utm_source=rss&utm_medium=feed"]
    assert ar["id"] == article_id("http://news.test/ar/1", "", "")
    assert ar["title"] == "كارتر يبحث بأنقرة التعاون ل «هزيمة داعش»"
    assert (
        ar["body"]
        == "اتفقت الولايات المتحدة وتركيا على تعزيز الجهود ضد داعش.\nوقال الوزير إن معركة الموصل & الرقة مستمرة."
    )
    assert ar["published_at"] == "2016-10-22T07:00:00+00:00"
    assert ar["lang"] == "ar" and ar["source"] == "news.test"  # the publisher, not the feed host
    undated = by_url["http://news.test/ar/2"]
    assert undated["published_at"] is None and undated["body"] == 'نص مائل عن بغداد "اقتباس"'
    en = by_url["http://news.test/en/1#comments"]
    assert en["title"] == "Erdogan & Carter meet in Ankara"
    assert (
        en["body"]
        == "The Mosul-based offensive against ISIS continued.\nOfficials in Baghdad & Raqqa — watched."
    )
    assert en["published_at"] == "2016-10-22T06:30:00+00:00" and en["lang"] == "en"
    assert en["id"] == article_id("http://news.test/en/1", "", "")
    assert by_url["http://news.test/en/2"]["body"] == "Talks on Syria and Iraq resumed."


async def test_second_poll_uses_etag_and_last_modified(feed_server: FeedServer) -> None:
    poller, stream, _ = make_poller([f"{feed_server.base}/rss-ar.xml", f"{feed_server.base}/atom-en.xml"])
    async with aiohttp.ClientSession() as session:
        await poller.poll_all_once(session)
        await poller.poll_all_once(session)
    assert feed_server.not_modified == 2
    assert len(published(stream)) == 4


async def test_already_seen_articles_are_not_republished(feed_server: FeedServer) -> None:
    poller, stream, metrics = make_poller([f"{feed_server.base}/rss-ar.xml"])
    async with aiohttp.ClientSession() as session:
        await poller.poll_all_once(session)
        poller.feeds[0].etag = None  # as after a restart: no conditional GET, same entries
        await poller.poll_all_once(session)
    assert len(published(stream)) == 2
    assert metrics.registry.get_sample_value("newsmon_producer_articles_deduplicated_total") == 2


async def test_failing_feeds_are_reported_by_url_and_do_not_stop_the_rest(
    feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    bad = [
        f"{feed_server.base}/broken",
        f"{feed_server.base}/malformed.xml",
        f"{feed_server.base}/page.html",
        f"http://127.0.0.1:{closed_port()}/feed.xml",
    ]
    poller, stream, metrics = make_poller([*bad, f"{feed_server.base}/atom-en.xml"])
    async with aiohttp.ClientSession() as session:
        await poller.poll_all_once(session)
    assert len(published(stream)) == 2
    assert poller.failed_polls == 4
    assert metrics.registry.get_sample_value("newsmon_producer_feed_errors_total") == 4
    for url in bad:
        assert url in caplog.text
    assert "HTTP 500" in caplog.text and "malformed feed" in caplog.text
    broken = poller.feeds[0]
    assert broken.failures == 1


def test_malformed_and_non_feed_documents_raise_feed_error() -> None:
    with pytest.raises(FeedError, match="malformed"):
        parse_feed((FEEDS / "malformed.xml").read_bytes(), FeedState("u", "s"))
    with pytest.raises(FeedError, match="not an RSS or Atom"):
        parse_feed(b"<html><body>hello</body></html>", FeedState("u", "s"), "text/html")


def test_feed_list_file_comments_names_and_duplicates() -> None:
    feeds = parse_feed_list(
        "# my feeds\n\nhttps://www.example.com/rss.xml\nhttps://b.test/atom  B News every=60 # trailing comment\n"
        "https://www.example.com/rss.xml\n"
    )
    assert [(f.url, f.source, f.interval_s) for f in feeds] == [
        ("https://www.example.com/rss.xml", "example.com", None),
        ("https://b.test/atom", "B News", 60.0),
    ]
    with pytest.raises(ValueError, match="line 2"):
        parse_feed_list("https://a.test/\nhttps://b.test/ every=soon\n")


def test_backoff_doubles_per_failure_up_to_the_cap_with_bounded_jitter() -> None:
    delays = [next_delay(60, n, jitter=0.0, max_backoff_s=600, random_unit=0.5) for n in range(6)]
    assert delays == [60, 120, 240, 480, 600, 600]
    low = next_delay(100, 0, jitter=0.2, max_backoff_s=600, random_unit=0.0)
    high = next_delay(100, 0, jitter=0.2, max_backoff_s=600, random_unit=0.999999)
    assert low == pytest.approx(80) and high == pytest.approx(120, rel=1e-3)


def test_retry_after_pushes_the_next_poll() -> None:
    state = FeedState("u", "s", failures=1)
    schedule_next(state, 60, jitter=0, max_backoff_s=600, random_unit=0.5, now=1000.0, not_before_s=900)
    assert state.next_due == 1900.0


async def test_undelivered_articles_are_released_and_published_again(feed_server: FeedServer) -> None:
    poller, stream, _ = make_poller([f"{feed_server.base}/atom-en.xml"])
    async with aiohttp.ClientSession() as session:
        await poller.poll_all_once(session)
        lost = article_id("http://news.test/en/2", "", "")
        poller.undelivered.append(lost)  # as the publisher's failure hook does
        poller.feeds[0].last_modified = None
        await poller.poll_all_once(session)
    assert [a["id"] for a in published(stream)][-1] == lost
    assert len(published(stream)) == 3
