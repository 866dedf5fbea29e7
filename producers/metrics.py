"""Prometheus metrics of the producers; labels are bounded (command names, Rejection values)."""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from producers.fulltext.policy import Outcome
from producers.validate import Rejection

# Sends are sub-millisecond when batched locally and seconds when the broker is struggling.
FULLTEXT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ProducerMetrics:
    """The producer counters and histogram, registered in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.published = Counter(
            "newsmon_producer_articles_published",
            "Articles acknowledged by Kafka (or written to stdout), by producer command.",
            ["command"],
            registry=registry,
        )
        self.deduplicated = Counter(
            "newsmon_producer_articles_deduplicated",
            "Articles skipped because their id was already published.",
            registry=registry,
        )
        self.rejected = Counter(
            "newsmon_producer_articles_rejected",
            "Inputs that did not become a published article, by reason.",
            ["reason"],
            registry=registry,
        )
        self.dates_dropped = Counter(
            "newsmon_producer_published_at_dropped",
            "Articles published without their unparseable or offset-less published_at.",
            registry=registry,
        )
        self.feed_errors = Counter(
            "newsmon_producer_feed_errors",
            "Feed polls that failed (unreachable, HTTP error, malformed XML).",
            registry=registry,
        )
        self.send_latency = Histogram(
            "newsmon_producer_send_latency_seconds",
            "Time from handing an article to the Kafka client until the broker acknowledged it.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.fulltext = Counter(
            "newsmon_producer_fulltext_fetches",
            "Page fetches for the full text of short feed entries, by outcome (used, or why not).",
            ["outcome"],
            registry=registry,
        )
        self.fulltext_seconds = Histogram(
            "newsmon_producer_fulltext_fetch_seconds",
            "Time to fetch and extract one entry's page (robots.txt, host pacing and redirects included).",
            buckets=FULLTEXT_BUCKETS,
            registry=registry,
        )
        # Feed health; the label is the configured feed name, so the set is bounded by the feed list.
        self.feed_last_success = Gauge(
            "newsmon_producer_feed_last_success_timestamp_seconds",
            "Unix time of the feed's last successful poll (0: none yet).",
            ["feed"],
            registry=registry,
        )
        self.feed_failures = Gauge(
            "newsmon_producer_feed_consecutive_failures",
            "Failed polls of the feed since its last success.",
            ["feed"],
            registry=registry,
        )
        self.feed_newest_entry = Gauge(
            "newsmon_producer_feed_newest_entry_timestamp_seconds",
            "Unix time of the newest dated entry the feed has carried (0: none seen yet).",
            ["feed"],
            registry=registry,
        )
        for reason in Rejection:
            self.rejected.labels(reason=reason.value)
        for outcome in Outcome:
            self.fulltext.labels(outcome=outcome.value)

    def reject(self, reason: Rejection) -> None:
        """Count one rejected input."""
        self.rejected.labels(reason=reason.value).inc()


@lru_cache(maxsize=1)
def default_metrics() -> ProducerMetrics:
    """The process-wide metrics in the default registry (created once: re-registering raises)."""
    return ProducerMetrics(REGISTRY)


def serve_metrics(port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Expose /metrics on ``port`` in a background thread; port 0 disables it."""
    if port:
        start_http_server(port, registry=registry)
