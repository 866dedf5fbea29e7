"""Full-text cost per feed entry on loopback: feed-only poll (ceiling) vs. fetching every entry's page.

    .venv/bin/python tests/bench/fulltext.py [--entries 300] [--rounds 3]

Pages are the seed article set as a news page (≈ 4.7 KB of Arabic HTML). Prints wall and CPU time per
entry for both, the page extraction alone (decode + our time parser + trafilatura), and the ratios.
No Kafka: articles go to an in-memory sink; host pacing off (per_host 8, no delay) to measure cost.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from producers.dedupe import MemorySeenStore  # noqa: E402
from producers.feeds import parse_feed_list  # noqa: E402
from producers.fulltext.enrich import Enricher, FetchedPage, page_of  # noqa: E402
from producers.fulltext.fetcher import PageFetcher  # noqa: E402
from producers.fulltext.policy import FulltextOptions  # noqa: E402
from producers.intake import Intake  # noqa: E402
from producers.metrics import ProducerMetrics  # noqa: E402
from producers.poller import FeedPoller, PollOptions  # noqa: E402
from producers.publisher import StdoutSink  # noqa: E402
from tests.unit.producers.pagesite import Site, article_html, feed_xml, published_meta, seed_paragraphs  # noqa: E402


def bench_app(site: Site, entries: int) -> web.Application:
    page = article_html("الخبر", seed_paragraphs(), head=published_meta("2016-10-22T10:00:00+03:00"))

    async def feed(_r: web.Request) -> web.Response:
        items = [(f"/news/{n}", f"الخبر {n}") for n in range(entries)]
        return web.Response(text=feed_xml(site, items), content_type="application/rss+xml")

    async def news(_r: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def robots(_r: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nAllow: /\n")

    app = web.Application()
    app.router.add_get("/feed.xml", feed)
    app.router.add_get("/news/{n}", news)
    app.router.add_get("/robots.txt", robots)
    return app


async def one_poll(base: str, min_chars: int) -> tuple[float, float, int]:
    """Wall and CPU seconds of one poll of the feed, and the articles published."""
    stream = io.BytesIO()
    metrics = ProducerMetrics(CollectorRegistry())
    intake = Intake(StdoutSink(stream, metrics, "rss", 1 << 20), metrics)
    options = FulltextOptions(min_chars=min_chars, timeout_s=30, per_host=8, host_delay_s=0.0)
    feeds = parse_feed_list(f"{base}/feed.xml")
    poller = FeedPoller(
        feeds,
        intake,
        MemorySeenStore(),
        PollOptions(timeout_s=30),
        random.Random(1),
        fulltext_min_chars=min_chars,
    )
    async with aiohttp.ClientSession() as session:
        poller.enricher = Enricher(PageFetcher(session, options), metrics)
        wall, cpu = time.perf_counter(), time.process_time()
        await poller.poll_one(session, feeds[0])
        elapsed = time.perf_counter() - wall, time.process_time() - cpu
    intake.sink.flush()
    return elapsed[0], elapsed[1], len(stream.getvalue().splitlines())


def extraction_seconds(rounds: int = 50) -> float:
    html = article_html("الخبر", seed_paragraphs(), head=published_meta("2016-10-22T10:00:00+03:00")).encode()
    fetched = FetchedPage(None, "", "http://127.0.0.1/news/1", html, "text/html")
    page_of(fetched)  # trafilatura's imports and caches
    start = time.process_time()
    for _ in range(rounds):
        page_of(fetched)
    return (time.process_time() - start) / rounds


async def main(entries: int, rounds: int) -> None:
    site = Site()
    runner = web.AppRunner(bench_app(site, entries))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    site.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    results: dict[str, list[tuple[float, float]]] = {"feed only": [], "full text": []}
    await one_poll(site.base, 10_000)  # warm-up: imports, language model, trafilatura
    for _ in range(rounds):
        for name, min_chars in (("feed only", 0), ("full text", 10_000)):
            wall, cpu, published = await one_poll(site.base, min_chars)
            assert published == entries, (name, published)
            results[name].append((wall / entries, cpu / entries))
    await runner.cleanup()
    html_bytes = len(article_html("الخبر", seed_paragraphs()).encode())
    print(
        f"{entries} entries, {rounds} rounds, page {html_bytes:,} bytes; median per entry (the server shares this process)"
    )
    medians = {
        n: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
        for n, r in results.items()
    }
    for name, (wall, cpu) in medians.items():
        print(f"  {name:10s} wall {wall * 1e3:7.2f} ms   cpu {cpu * 1e3:7.2f} ms")
    extract = extraction_seconds()
    print(f"  extraction alone (decode + time + trafilatura) cpu {extract * 1e3:.2f} ms")
    ceiling_wall, ceiling_cpu = medians["feed only"]
    full_wall, full_cpu = medians["full text"]
    print(
        f"  ratio full text / feed only: wall {full_wall / ceiling_wall:.1f}x, cpu {full_cpu / ceiling_cpu:.1f}x"
    )
    print(f"  extraction share of the full-text cpu: {extract / full_cpu:.0%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.entries, args.rounds))
