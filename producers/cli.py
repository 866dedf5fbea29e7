"""`python -m producers <command>`: argument parsing, signals, sinks and the command runners."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo

import aiohttp
import orjson
from aiohttp import web
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from producers.dedupe import DEFAULT_SEEN_TTL_S, MemorySeenStore, RedisSeenStore, SeenStore
from producers.feeds import FeedState, parse_feed_list
from producers.files import default_source, ingest_paths, iter_input_files, watch_directory
from producers.fulltext.enrich import Enricher
from producers.fulltext.fetcher import PageFetcher
from producers.fulltext.policy import FulltextOptions
from producers.health import DEFAULT_SILENT_AFTER_S, format_table
from producers.ingest import DEFAULT_MAX_BODY_BYTES, make_app
from producers.ingest_auth import check_bind, ingest_auth
from producers.intake import Intake
from producers.metrics import ProducerMetrics, default_metrics, serve_metrics
from producers.poller import FeedPoller, PollOptions, check_feeds
from producers.publisher import (
    DEFAULT_BUFFER_BYTES,
    DEFAULT_MAX_BLOCK_MS,
    FailureHook,
    KafkaPublisher,
    Sink,
    StdoutSink,
)
from producers.replay import ReplayClock, count_lines, replay_stream
from producers.sample import generate
from streams.model.settings import Settings, get_settings
from streams.store.keys import RedisKeys
from streams.store.redis_connect import async_redis

log = logging.getLogger("producers")


class StopFlag:
    """Set by SIGTERM/SIGINT; loops check it so that queued articles are flushed before exit."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt  # a second signal: the user really wants out
        log.warning("%s received: finishing the current article and flushing", signal.Signals(signum).name)
        self.requested = True


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """A StopFlag wired to SIGTERM and SIGINT for the duration of a synchronous command."""
    flag = StopFlag()
    previous = {sig: signal.signal(sig, flag.handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def make_sink(
    args: argparse.Namespace,
    settings: Settings,
    metrics: ProducerMetrics,
    on_failure: FailureHook | None = None,
) -> Sink:
    """Kafka, or JSON Lines on stdout with ``--stdout``."""
    if args.stdout:
        return StdoutSink(sys.stdout.buffer, metrics, args.command, settings.max_article_bytes)
    return KafkaPublisher(
        settings,
        metrics,
        args.command,
        topic=args.topic,
        buffer_bytes=args.buffer_bytes,
        max_block_ms=args.max_block_ms,
        on_failure=on_failure,
    )


def finish(intake: Intake, sink: Sink) -> int:
    """Flush and close the sink, log the summary; exit status 1 when anything was lost or rejected."""
    sink.close()
    log.info("%s", intake.tally.summary(sink.acked, sink.failed))
    return 1 if sink.failed or intake.tally.rejected else 0


def zone(name: str) -> tzinfo:
    """An IANA zone for argparse (`UTC`, `Asia/Baghdad`)."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"unknown time zone {name!r}") from exc


def run_files(args: argparse.Namespace, settings: Settings, metrics: ProducerMetrics) -> int:
    root = Path(args.path)
    if not root.exists():
        log.error("%s: no such file or directory", root)
        return 2
    sink = make_sink(args, settings, metrics)
    with stop_on_signals() as stop:
        # Source: --source, else the page's canonical host (page_fields), else the directory name.
        intake = Intake(sink, metrics, default_source(root), should_stop=stop)
        try:
            if args.watch:
                watch_directory(intake, root, args.tz, args.interval, stop, args.source)
            else:
                ingest_paths(intake, iter_input_files(root), args.tz, stop, args.source)
        finally:
            status = finish(intake, sink)
    return status


def run_replay(args: argparse.Namespace, settings: Settings, metrics: ProducerMetrics) -> int:
    from_stdin = args.path == "-"
    if not from_stdin and not Path(args.path).is_file():
        log.error("%s: no such file", args.path)
        return 2
    stream = sys.stdin.buffer if from_stdin else open(args.path, "rb")  # noqa: SIM115 (closed below)
    sink = make_sink(args, settings, metrics)
    clock = ReplayClock(rate=args.rate, speedup=args.speedup)
    total = None if from_stdin else count_lines(stream)
    with stop_on_signals() as stop, logging_redirect_tqdm():
        intake = Intake(sink, metrics, should_stop=stop)
        progress = tqdm(total=total, unit="article", file=sys.stderr, disable=args.no_progress, smoothing=0.1)
        try:
            replay_stream(intake, stream, "stdin" if from_stdin else args.path, clock, progress, stop)
        finally:
            progress.close()
            status = finish(intake, sink)
            if not from_stdin:
                stream.close()
    return status


async def _serve_until_stopped(args: argparse.Namespace, intake: Intake, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(
        make_app(intake, settings.max_article_bytes, args.max_body_bytes, ingest_auth(args, intake))
    )
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    log.info("ingest listening on http://%s:%d/articles", args.host, args.port)
    await stop.wait()
    log.info("stopping ingest server")
    await runner.cleanup()


def run_http(args: argparse.Namespace, settings: Settings, metrics: ProducerMetrics) -> int:
    args.port = settings.ingest_port if args.port is None else args.port
    args.tokens = settings.ingest_tokens if args.tokens is None else args.tokens
    check_bind(args.host, args.tokens is not None, args.insecure)
    sink = make_sink(args, settings, metrics)
    intake = Intake(sink, metrics, default_source="http")
    try:
        asyncio.run(_serve_until_stopped(args, intake, settings))
    finally:
        status = finish(intake, sink)
    return status


def seen_store(args: argparse.Namespace, settings: Settings) -> SeenStore:
    """Redis claims (shared, survive restarts), or memory for `--dedupe memory` / `--stdout` runs."""
    if args.dedupe == "memory" or (args.dedupe == "auto" and args.stdout):
        return MemorySeenStore()
    return RedisSeenStore(async_redis(settings), RedisKeys(settings.redis_prefix), ttl_s=args.seen_ttl)


def fulltext_options(args: argparse.Namespace, settings: Settings) -> FulltextOptions:
    """Settings.fulltext_*, with the command line's overrides."""
    return FulltextOptions(
        min_chars=settings.fulltext_min_chars if args.fulltext_min_chars is None else args.fulltext_min_chars,
        user_agent=settings.fulltext_user_agent,
        timeout_s=settings.fulltext_timeout_seconds if args.page_timeout is None else args.page_timeout,
        max_bytes=settings.fulltext_max_bytes,
        per_host=settings.fulltext_per_host,
        host_delay_s=settings.fulltext_host_delay_seconds,
        max_redirects=settings.fulltext_max_redirects,
    )


async def _poll(args: argparse.Namespace, poller: FeedPoller, options: FulltextOptions) -> None:
    async with aiohttp.ClientSession() as session:
        poller.enricher = Enricher(PageFetcher(session, options), poller.intake.metrics)
        if args.once:
            await poller.poll_all_once(session)
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await poller.run(session, stop)


async def _check(feeds: list[FeedState], timeout_s: float, silent_after_s: float) -> int:
    """``rss --check``: the table on stdout; 1 when any feed is failing, empty or silent."""
    async with aiohttp.ClientSession() as session:
        rows = await check_feeds(session, feeds, timeout_s, silent_after_s)
    sys.stdout.write(format_table(rows) + "\n")
    return 0 if all(row.healthy for row in rows) else 1


def run_rss(args: argparse.Namespace, settings: Settings, metrics: ProducerMetrics) -> int:
    try:
        feeds = parse_feed_list(Path(args.feeds).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.error("%s: %s", args.feeds, exc)
        return 2
    if not feeds:
        log.error("%s: no feed URLs", args.feeds)
        return 2
    if args.check:
        return asyncio.run(_check(feeds, args.timeout, args.silent_after))
    options = PollOptions(args.interval, args.jitter, args.max_backoff, args.timeout)
    pages = fulltext_options(args, settings)
    undelivered: deque[str] = deque()
    sink = make_sink(
        args, settings, metrics, on_failure=lambda article_id, _exc: undelivered.append(article_id)
    )
    intake = Intake(sink, metrics)
    poller = FeedPoller(
        feeds,
        intake,
        seen_store(args, settings),
        options,
        undelivered=undelivered,
        fulltext_min_chars=pages.min_chars,
    )
    try:
        asyncio.run(_poll(args, poller, pages))
    finally:
        status = finish(intake, sink)
    if undelivered:
        # Failures during the final flush: the loop is gone, so these claims expire with the TTL.
        log.error("%d articles were not delivered; their dedupe claims stay until the TTL", len(undelivered))
    return 1 if status or (args.once and poller.failed_polls) else 0


def run_sample(args: argparse.Namespace, _settings: Settings, _metrics: ProducerMetrics) -> int:
    articles, expected = generate(args.count, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as handle:
        for article in articles:
            handle.write(orjson.dumps(article) + b"\n")
    expected_path = Path(args.expected) if args.expected else out.with_name("expected.json")
    expected_path.write_bytes(orjson.dumps(expected, option=orjson.OPT_INDENT_2) + b"\n")
    log.info("wrote %d SYNTHETIC articles to %s and their counts to %s", len(articles), out, expected_path)
    return 0


def add_common(parser: argparse.ArgumentParser, settings: Settings) -> None:
    """Options every publishing command has."""
    parser.add_argument("--stdout", action="store_true", help="write Article JSON Lines to stdout, not Kafka")
    parser.add_argument("--topic", default=None, help=f"Kafka topic (default {settings.topic_articles})")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=settings.producer_metrics_port,
        help="serve Prometheus /metrics on this port; 0 disables (default %(default)s)",
    )
    parser.add_argument(
        "--buffer-bytes", type=int, default=DEFAULT_BUFFER_BYTES, help="bytes in flight to Kafka"
    )
    parser.add_argument(
        "--max-block-ms", type=int, default=DEFAULT_MAX_BLOCK_MS, help="wait this long on a full buffer"
    )


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m producers", description="Publish articles to newsmon.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)

    rss = commands.add_parser("rss", help="poll RSS/Atom feeds")
    rss.add_argument(
        "feeds", help="file of feed URLs, one per line (optional source name after it; # comments)"
    )
    rss.add_argument("--once", action="store_true", help="poll every feed once and exit")
    rss.add_argument("--interval", type=float, default=300.0, help="default seconds between polls of a feed")
    rss.add_argument("--jitter", type=float, default=0.1, help="± fraction of the interval")
    rss.add_argument("--max-backoff", type=float, default=3600.0, help="cap of the failure back-off, seconds")
    rss.add_argument("--timeout", type=float, default=20.0, help="per-fetch timeout, seconds")
    rss.add_argument("--dedupe", choices=["auto", "redis", "memory"], default="auto")
    rss.add_argument("--seen-ttl", type=int, default=DEFAULT_SEEN_TTL_S, help="dedupe memory, seconds")
    rss.add_argument(
        "--fulltext-min-chars",
        type=int,
        default=None,
        help=f"fetch the page of entries with less text than this; 0: never (default {settings.fulltext_min_chars})",
    )
    rss.add_argument(
        "--page-timeout",
        type=float,
        default=None,
        help=f"per-request timeout of page fetches, seconds (default {settings.fulltext_timeout_seconds:g})",
    )
    rss.add_argument(
        "--check", action="store_true", help="poll each feed once, print a health table, publish nothing"
    )
    rss.add_argument(
        "--silent-after",
        type=float,
        default=DEFAULT_SILENT_AFTER_S,
        help="--check: a feed whose newest entry is older than this many seconds is silent",
    )
    add_common(rss, settings)

    files = commands.add_parser("files", help="scraped text / saved HTML files")
    files.add_argument("path", help="a file or a directory (read recursively)")
    files.add_argument("--source", default=None, help="source name (default: the directory name, or 'files')")
    files.add_argument("--watch", action="store_true", help="keep polling the directory for new files")
    files.add_argument("--interval", type=float, default=2.0, help="--watch poll interval, seconds")
    files.add_argument("--tz", type=zone, default=ZoneInfo("UTC"), help="zone of dates written without one")
    add_common(files, settings)

    replay = commands.add_parser("replay", help="replay JSON Lines of articles")
    replay.add_argument("path", help="JSON Lines file, or - for stdin")
    replay.add_argument("--rate", type=float, default=None, help="at most N articles per second")
    replay.add_argument("--speedup", type=float, default=None, help="X times the original published_at pace")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(replay, settings)

    http = commands.add_parser("http", help="HTTP ingest endpoint (POST /articles)")
    http.add_argument("--host", default="127.0.0.1")
    http.add_argument("--port", type=int, default=None, help=f"default {settings.ingest_port}")
    http.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    http.add_argument(
        "--tokens", type=Path, default=None, help="bearer token file (default NEWSMON_INGEST_TOKENS)"
    )
    http.add_argument("--insecure", action="store_true", help="serve off loopback without tokens")
    add_common(http, settings)

    sample = commands.add_parser("sample", help="write the SYNTHETIC sample set and its expected counts")
    sample.add_argument("--out", default="ops/sample/articles.jsonl")
    sample.add_argument("--expected", default=None, help="default: expected.json beside --out")
    sample.add_argument("--count", type=int, default=10_000)
    sample.add_argument("--seed", type=int, default=1)
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, ProducerMetrics], int]] = {
    "rss": run_rss,
    "files": run_files,
    "replay": run_replay,
    "http": run_http,
    "sample": run_sample,
}


def start_metrics(port: int) -> None:
    """Serve /metrics; a busy port is logged, not fatal (several producers may share a host)."""
    try:
        serve_metrics(port)
    except OSError as exc:
        log.warning("metrics port %d unavailable (%s); continuing without /metrics", port, exc)


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    args = build_parser(settings).parse_args(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kafka-python narrates every connection at INFO; its warnings and errors still show.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(args.log_level)))
    metrics = default_metrics()
    if args.command != "sample":
        start_metrics(args.metrics_port)
    try:
        return COMMANDS[args.command](args, settings, metrics)
    except BrokenPipeError:
        # The reader of --stdout went away (e.g. `| head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
