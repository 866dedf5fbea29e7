"""The Prometheus collector: reads Redis once per scrape and yields the families."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.exporter.families import MAX_TOP, count_families, health_families
from streams.exporter.view import ViewSource, WatchView
from streams.store.snapshot import read_snapshot

log = logging.getLogger(__name__)


class RedisCountsCollector(Collector):
    """Reads Redis once per scrape (no background polling) and yields the families above."""

    def __init__(
        self, client: redis.Redis, prefix: str, views: ViewSource | WatchView, top_n: int = 10
    ) -> None:
        if not 0 <= top_n <= MAX_TOP:
            raise ValueError(f"top_n must be between 0 and {MAX_TOP}, not {top_n}")
        self.client = client
        self.prefix = prefix
        self.views = views
        self.top_n = top_n

    def _view(self) -> WatchView:
        return self.views if isinstance(self.views, WatchView) else self.views.current()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        began = time.perf_counter()
        view = self._view()
        families: list[GaugeMetricFamily] = []
        try:
            snapshot = read_snapshot(self.client, self.prefix, view.span_minutes())
        except redis.RedisError as err:
            log.warning("Redis unavailable for this scrape: %s", err)
            redis_up = False
        else:
            families = count_families(snapshot, view, self.top_n)
            redis_up = True
        yield from families
        yield from health_families(redis_up, len(view.entities), time.perf_counter() - began)
