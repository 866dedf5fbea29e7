"""The poll loop on a fake clock: a feed whose pages wait on host pacing holds up no other due feed."""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from producers.dedupe import MemorySeenStore
from producers.feeds import parse_feed_list
from producers.fulltext.enrich import Enricher
from producers.fulltext.fetcher import PageFetcher
from producers.fulltext.policy import FulltextOptions, HostGate
from producers.intake import Intake
from producers.metrics import ProducerMetrics
from producers.poller import FeedPoller, PollOptions
from producers.publisher import StdoutSink
from tests.unit.producers.pagesite import Site, article_html, feed_xml, seed_paragraphs

HOST_DELAY_S = 60.0  # between two page fetches on the slow feed's host


@dataclass
class FakeClock:
    """Monotonic time that moves only when the test says; sleepers wake when it passes their deadline."""

    now_s: float = 0.0
    sleepers: list[tuple[float, asyncio.Future[None]]] = field(default_factory=list)

    def now(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now_s + seconds, wake))
        await wake

    def waiting_until(self) -> list[float]:
        return sorted(at for at, wake in self.sleepers if not wake.done())

    def advance(self, to: float) -> None:
        self.now_s = to
        for at, wake in self.sleepers:
            if at <= to and not wake.done():
                wake.set_result(None)
        self.sleepers = [(at, wake) for at, wake in self.sleepers if not wake.done()]


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    """/slow.xml: two summary-only entries whose pages are on one host; /busy.xml: one more entry at
    every poll, with nothing to fetch (fulltext=never)."""
    state = Site()
    polls = {"busy": 0}

    async def slow_feed(_r: web.Request) -> web.Response:
        state.hits["/slow.xml"] = state.hits.get("/slow.xml", 0) + 1
        xml = feed_xml(state, [("/page/1", "الصفحة الأولى"), ("/page/2", "الصفحة الثانية")])
        return web.Response(text=xml, content_type="application/rss+xml")

    async def busy_feed(_r: web.Request) -> web.Response:
        polls["busy"] += 1
        xml = feed_xml(state, [(f"/busy/{n}", f"خبر {n}") for n in range(1, polls["busy"] + 1)])
        return web.Response(text=xml, content_type="application/rss+xml")

    async def page(request: web.Request) -> web.Response:
        state.hits[request.path] = state.hits.get(request.path, 0) + 1
        return web.Response(text=article_html(request.path, seed_paragraphs()), content_type="text/html")

    async def no_robots(_r: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/slow.xml", slow_feed)
    app.router.add_get("/busy.xml", busy_feed)
    app.router.add_get("/page/{n}", page)
    app.router.add_get("/robots.txt", no_robots)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield state
    await runner.cleanup()


async def until(check: Callable[[], bool], what: str) -> None:
    """Let the loopback I/O run until `check` holds (a hang guard, not a time assertion)."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_a_feed_waiting_on_host_pacing_holds_up_no_other_feed(site: Site) -> None:
    clock = FakeClock()
    stream = io.BytesIO()
    metrics = ProducerMetrics(CollectorRegistry())
    feeds = parse_feed_list(f"{site.base}/slow.xml every=20\n{site.base}/busy.xml every=10 fulltext=never")
    poller = FeedPoller(
        feeds, Intake(StdoutSink(stream, metrics, "rss", 1 << 20), metrics), MemorySeenStore(),
        PollOptions(jitter=0.0, timeout_s=5), random.Random(1), fulltext_min_chars=600,
        clock=clock.now, sleep=clock.sleep,
    )  # fmt: skip
    options = FulltextOptions(user_agent="newsmon-test", timeout_s=5.0, per_host=1, host_delay_s=HOST_DELAY_S)

    def published() -> list[str]:
        return [str(orjson.loads(line)["title"]) for line in stream.getvalue().splitlines()]

    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        fetcher = PageFetcher(session, options)
        fetcher.gate = HostGate(1, HOST_DELAY_S, clock=clock.now, sleep=clock.sleep)
        poller.enricher = Enricher(fetcher, metrics)
        running = asyncio.create_task(poller.run(session, stop))
        # t=0: both polled; the slow feed's first page is in, its second waits for t=60.
        await until(lambda: clock.waiting_until() == [10.0, HOST_DELAY_S], "page 2 and the busy feed waiting")
        await until(lambda: len(published()) == 2, "page 1's entry published")
        assert published() == ["خبر 1", "الصفحة الأولى"]
        # t=10 and t=20: the busy feed is polled on time; the slow one, still in flight, is not polled again.
        clock.advance(10.0)
        await until(lambda: "خبر 2" in published(), "the busy feed's poll at t=10")
        await until(lambda: clock.waiting_until() == [20.0, HOST_DELAY_S], "the loop waiting for t=20")
        clock.advance(20.0)
        await until(lambda: "خبر 3" in published(), "the busy feed's poll at t=20")
        await until(lambda: clock.waiting_until() == [30.0, HOST_DELAY_S], "the loop waiting for t=30")
        assert (site.hits.get("/page/2"), site.hits["/slow.xml"]) == (None, 1)
        # t=60: the host lets page 2 in; the slow feed's poll ends and is scheduled 20 s later.
        clock.advance(HOST_DELAY_S)
        await until(lambda: feeds[0].next_due == HOST_DELAY_S + 20, "the slow feed's poll ending at t=60")
        await until(lambda: clock.waiting_until() == [70.0], "the loop waiting for the busy feed at t=70")
        stop.set()
        await running
    titles = published()  # page 2 and the busy feed's poll at t=60 race each other on loopback
    assert (titles[:4], sorted(titles[4:])) == (
        ["خبر 1", "الصفحة الأولى", "خبر 2", "خبر 3"],
        ["الصفحة الثانية", "خبر 4"],
    )
    assert (site.hits["/page/1"], site.hits["/page/2"], site.hits["/slow.xml"]) == (1, 1, 1)
    assert poller.in_flight == {}
