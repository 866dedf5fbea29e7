"""Worker metrics (served on Faust's web server at /metrics); labels are bounded by design."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.model.deadletter import Reason

# Watchlists up to this many entities get a zero series per entity at start (rate() and absent()
# work before the first mention); a 200,000-entity lexicon would put 200,000 idle series on /metrics.
PREINITIALISED_ENTITIES_MAX = 10_000

OUTCOMES = ("tagged", "duplicate", "deadletter")
WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class WorkerMetrics:
    """Every metric the worker exports, registered on one registry (tests pass their own)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.articles = Counter(
            "newsmon_articles",
            "Articles consumed from news.articles, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.rejected = Counter(
            "newsmon_articles_rejected",
            "Inputs sent to the dead-letter topic, by reason",
            ["reason"],
            registry=registry,
        )
        self.mentions = Counter(
            "newsmon_entity_mentions",
            "Entity mentions counted (first delivery only)",
            ["entity"],
            registry=registry,
        )
        self.alerts = Counter(
            "newsmon_alerts_raised", "Alerts published to news.alerts", ["kind"], registry=registry
        )
        self.deliveries = Counter(
            "newsmon_webhook_deliveries", "Webhook deliveries, by receiver and outcome", ["receiver", "outcome"],
            registry=registry,
        )  # fmt: skip
        self.delivery_seconds = Histogram(
            "newsmon_webhook_delivery_duration_seconds", "Time to deliver one alert including retries",
            ["receiver"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "newsmon_article_latency_seconds", "From an article's Kafka timestamp to its tagged message",
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "newsmon_batch_processing_seconds", "Time to process one batch of articles",
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.lag = Gauge(
            "newsmon_consumer_lag_messages", "Messages behind the partition's high watermark",
            ["topic", "partition"], registry=registry,
        )  # fmt: skip
        self.batch_failures = Counter(
            "newsmon_batch_failures",
            "Batches retried after an unexpected error (see the worker log)",
            registry=registry,
        )
        self.redis_retries = Counter(
            "newsmon_redis_retries", "Redis calls retried while Redis was unavailable", registry=registry
        )
        self.redis_wait_seconds = Histogram(
            "newsmon_redis_wait_seconds", "Time for the Redis replicas to acknowledge a batch (WAIT)",
            buckets=WAIT_BUCKETS, registry=registry,
        )  # fmt: skip
        self.redis_wait_timeouts = Counter(
            "newsmon_redis_wait_timeouts",
            "Batches acknowledged after WAIT timed out with fewer replicas than NEWSMON_REDIS_WAIT_REPLICAS",
            registry=registry,
        )
        self.reloads = Counter(
            "newsmon_watchlist_reloads",
            "Watchlist reload attempts, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.reload_seconds = Histogram(
            "newsmon_watchlist_reload_seconds",
            "Time to build a changed watchlist (in a thread, beside the event loop), rejected ones too",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80),
            registry=registry,
        )
        self.reload_loop_stall_seconds = Gauge(
            "newsmon_watchlist_reload_loop_stall_seconds",
            "Longest event-loop stall during the last watchlist reload (5 ms probe; build, swap, retire)",
            registry=registry,
        )
        self.entities = Gauge(
            "newsmon_watchlist_entities", "Entities in the active watchlist", registry=registry
        )
        self.stream_clock = Gauge(
            "newsmon_stream_clock_seconds", "Newest event time counted (the stream clock)", registry=registry
        )
        self._initialise_labels()

    def _initialise_labels(self) -> None:
        # Known label values exist from the start, so rate() and absent() behave before the first event.
        for outcome in OUTCOMES:
            self.articles.labels(outcome)
        for reason in Reason:
            self.rejected.labels(reason.value)
        for kind in ("rule", "spike"):
            self.alerts.labels(kind)
        for outcome in ("ok", "error"):
            self.reloads.labels(outcome)

    def watch_entities(self, entity_ids: Iterable[str]) -> None:
        ids = list(entity_ids)
        self.entities.set(len(ids))
        if len(ids) > PREINITIALISED_ENTITIES_MAX:
            return  # a lexicon: series appear with the first mention, they grow with activity
        for entity in ids:
            self.mentions.labels(entity)

    def watch_receivers(self, receivers: Iterable[str]) -> None:
        for receiver in receivers:
            for outcome in ("delivered", "retried", "failed", "duplicate"):
                self.deliveries.labels(receiver, outcome)
