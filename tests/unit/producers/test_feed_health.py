"""Feed lines (fulltext=, name=), feed health gauges and the ``rss --check`` table and exit status."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import AsyncIterator
from io import BytesIO
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from producers.cli import main
from producers.dedupe import MemorySeenStore
from producers.feeds import parse_feed_list
from producers.fulltext.policy import FulltextMode
from producers.health import check_row, format_table
from producers.intake import Intake
from producers.metrics import ProducerMetrics
from producers.poller import FeedPoller, PollOptions
from producers.publisher import StdoutSink

FEEDS = Path(__file__).resolve().parents[2] / "fixtures" / "feeds"


def feed_app() -> web.Application:
    """/rss.xml answers a real feed, /broken a 500."""

    async def rss(_r: web.Request) -> web.Response:
        return web.Response(body=(FEEDS / "rss-ar.xml").read_bytes(), content_type="application/rss+xml")

    async def broken(_r: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/rss.xml", rss)
    app.router.add_get("/broken", broken)
    return app


async def start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def base() -> AsyncIterator[str]:
    runner, url = await start(feed_app())
    yield url
    await runner.cleanup()


def test_feed_line_options_and_unique_labels() -> None:
    feeds = parse_feed_list(
        "https://a.test/rss fulltext=always name=a-news\nhttps://b.test/one\nhttps://b.test/two fulltext=never\n"
        "https://c.test/x Reuters Arabic\n"
    )
    assert [(f.label, f.source, f.named, f.fulltext) for f in feeds] == [
        ("a-news", "a.test", False, FulltextMode.ALWAYS),
        ("b.test", "b.test", False, FulltextMode.AUTO),
        ("b.test-2", "b.test", False, FulltextMode.NEVER),
        ("Reuters Arabic", "Reuters Arabic", True, FulltextMode.AUTO),
    ]
    with pytest.raises(ValueError, match="line 1"):
        parse_feed_list("https://a.test/ fulltext=sometimes\n")


async def test_health_gauges_follow_successes_and_failures(base: str) -> None:
    metrics = ProducerMetrics(CollectorRegistry())
    intake = Intake(StdoutSink(BytesIO(), metrics, "rss", 1 << 20), metrics)
    feeds = parse_feed_list(f"{base}/rss.xml name=good\n{base}/broken name=bad\n")
    poller = FeedPoller(feeds, intake, MemorySeenStore(), PollOptions(timeout_s=3), random.Random(1))
    async with aiohttp.ClientSession() as session:
        await poller.poll_all_once(session)
        await poller.poll_all_once(session)

    def sample(name: str, feed: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"feed": feed})

    assert sample("newsmon_producer_feed_consecutive_failures", "bad") == 2
    assert sample("newsmon_producer_feed_consecutive_failures", "good") == 0
    assert sample("newsmon_producer_feed_last_success_timestamp_seconds", "bad") is None
    assert (sample("newsmon_producer_feed_last_success_timestamp_seconds", "good") or 0) > 1.7e9
    # rss-ar.xml's dated entry: Sat, 22 Oct 2016 10:00:00 +0300
    assert sample("newsmon_producer_feed_newest_entry_timestamp_seconds", "good") == 1477119600


def test_check_verdicts_and_table() -> None:
    now = 1477119600 + 3600
    rows = [
        check_row("good", "http://a/", error="", entries=2, newest=now - 3600, silent_after_s=7200, now=now),
        check_row(
            "old", "http://b/", error="", entries=2, newest=now - 3 * 86400, silent_after_s=7200, now=now
        ),
        check_row("bad", "http://c/", error="HTTP 500", entries=0, newest=None, silent_after_s=7200, now=now),
        check_row("none", "http://d/", error="", entries=0, newest=None, silent_after_s=7200, now=now),
    ]
    assert [(r.state, r.healthy, r.detail) for r in rows] == [
        ("ok", True, ""),
        ("silent", False, "newest entry 3d old"),
        ("failing", False, "HTTP 500"),
        ("empty", False, "no entries"),
    ]
    assert format_table(rows[:3]).splitlines() == [
        "FEED  STATE    ENTRIES  NEWEST (UTC)      DETAIL               URL",
        "good  ok       2        2016-10-22 07:00  -                    http://a/",
        "old   silent   2        2016-10-19 08:00  newest entry 3d old  http://b/",
        "bad   failing  0        -                 HTTP 500             http://c/",
    ]


def test_rss_check_prints_every_feed_and_exits_1_when_any_is_unhealthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = _serve_in_thread()
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{server}/rss.xml name=good\n{server}/broken name=bad\n")
    status = main(
        ["rss", str(feeds), "--check", "--silent-after", str(100 * 365 * 86400), "--metrics-port", "0"]
    )
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert [line.split()[:2] for line in lines] == [["FEED", "STATE"], ["good", "ok"], ["bad", "failing"]]
    feeds.write_text(f"{server}/rss.xml name=good\n")
    assert (
        main(["rss", str(feeds), "--check", "--silent-after", str(100 * 365 * 86400), "--metrics-port", "0"])
        == 0
    )
    capsys.readouterr()


def _serve_in_thread() -> str:
    """A feed server on its own thread and loop (main() runs asyncio.run itself)."""
    started = threading.Event()
    address: list[str] = []

    async def serve() -> None:
        _runner, url = await start(feed_app())
        address.append(url)
        started.set()
        await asyncio.Event().wait()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    started.wait(10)
    return address[0]
