"""Prometheus exporter of the rolling counts in Redis, read at scrape time (`python -m streams.exporter`)."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Sequence
from types import FrameType

from prometheus_client import CollectorRegistry, start_http_server

from streams.exporter.collector import RedisCountsCollector
from streams.exporter.families import MAX_TOP
from streams.exporter.view import ViewSource
from streams.model.settings import Settings, get_settings
from streams.store.redis_connect import sync_redis

log = logging.getLogger(__name__)


def build_registry(settings: Settings, top_n: int) -> CollectorRegistry:
    """A registry holding only the Redis collector (sync client with short timeouts: a scrape never hangs)."""
    timeout = settings.read_redis_timeout_seconds
    client = sync_redis(settings, socket_timeout=timeout, socket_connect_timeout=timeout)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        RedisCountsCollector(
            client, settings.redis_prefix, ViewSource(settings.watchlist, always_ids(settings)), top_n
        )
    )
    return registry


def always_ids(settings: Settings) -> frozenset[str]:
    """NEWSMON_EXPORTER_ALWAYS: comma-separated entity ids exported even while quiet."""
    return frozenset(item.strip() for item in settings.exporter_always.split(",") if item.strip())


def parse_args(argv: Sequence[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m streams.exporter", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=settings.exporter_port, help="default NEWSMON_EXPORTER_PORT"
    )
    parser.add_argument(
        "--top", type=int, default=10, help=f"top-N entities to export (0-{MAX_TOP}, default 10)"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    args = parse_args(argv, settings)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    registry = build_registry(settings, args.top)
    server, thread = start_http_server(args.port, addr=args.host, registry=registry)
    log.info("serving /metrics on %s:%d (Redis %s, prefix %r)", args.host, args.port, settings.redis_url,
             settings.redis_prefix)  # fmt: skip

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        server.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    thread.join()
    return 0
