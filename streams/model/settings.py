"""The one Settings object, read once from the environment and .env (prefix NEWSMON_)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration shared by producers, the Faust worker and the exporter.

    Every field can be set as ``NEWSMON_<FIELD>`` (e.g. ``NEWSMON_KAFKA_BOOTSTRAP``) or in ``.env``.
    """

    model_config = SettingsConfigDict(env_prefix="NEWSMON_", env_file=".env", extra="ignore")

    # Faust app id: the consumer group and the prefix of Faust's internal topics
    app_id: str = "newsmon"

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    topic_articles: str = "news.articles"
    topic_tagged: str = "news.tagged"
    topic_alerts: str = "news.alerts"
    topic_deadletter: str = "news.deadletter"
    topic_partitions: int = Field(default=8, ge=1)
    # Replicas of each topic streams.topics creates: 1 on one broker, 3 on a cluster (min ISR 2)
    topic_replication: int = Field(default=1, ge=1)

    # Redis (key schema: streams/store/keys.py)
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "nm:"
    redis_timeout_seconds: float = Field(default=5.0, gt=0)  # the worker's socket and connect timeouts
    read_redis_timeout_seconds: float = Field(default=2.0, gt=0)  # exporter and top: a scrape never hangs
    # Sentinels ("host:port,host:port"): when set, clients ask them for the primary of
    # `redis_sentinel_master` (redis_url then only gives the db and credentials), see streams.store.redis_connect
    redis_sentinels: str | None = None
    redis_sentinel_master: str = "newsmon"
    # Replicas that must acknowledge a batch's writes (Redis WAIT) before its offsets are committed, so a
    # failover loses only batches Kafka redelivers; 0 = off. A WAIT past the timeout is counted and the
    # batch goes on (see streams.store.replicas); keep the timeout under redis_timeout_seconds.
    redis_wait_replicas: int = Field(default=0, ge=0)
    redis_wait_timeout_ms: int = Field(default=1000, ge=1)
    seen_ttl_seconds: int = Field(default=7 * 86400, ge=60)  # how long a redelivered article is recognised
    # Minute buckets (and spike evidence) live this long; must exceed the longest window (1 day).
    bucket_ttl_seconds: int = Field(default=2 * 86400, gt=86400)
    delivered_ttl_seconds: int = Field(default=30 * 86400, ge=60)  # a delivered webhook is not sent again
    # A copy joins a story whose latest copy arrived within this (an ISO 8601 duration: P3D, PT12H); the
    # story index's Redis keys live this long (docs/stories.md).
    story_horizon: timedelta = Field(default=timedelta(days=3), ge=timedelta(minutes=1))
    # A partition silent this long stops holding back the stream clock (see streams.store.counts).
    partition_idle_seconds: float = Field(default=10.0, gt=0)

    # Tagging
    watchlist: Path = Path("ops/watchlist.yaml")
    max_article_bytes: int = Field(default=1024 * 1024, ge=1)
    # Largest watchlist entity file (entities_files) read; 1,000,000 names take 35 MB.
    entity_file_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1)

    # Worker tuning (Faust)
    worker_batch_size: int = Field(default=500, ge=1)  # articles per batch; also Faust's commit interval
    worker_batch_within_seconds: float = Field(default=0.05, gt=0)  # a partly filled batch waits this long
    # Bytes per producer batch (one per partition): a whole batch's tagged records fit in one.
    worker_producer_batch_bytes: int = Field(default=512 * 1024, ge=16 * 1024)
    # A dead worker's partitions move to the others after this (Faust's default is 60 s).
    worker_session_timeout_seconds: float = Field(default=15.0, gt=0)
    worker_heartbeat_seconds: float = Field(default=3.0, gt=0)
    # /livez (and systemd's watchdog) fail when the event loop runs this late, or when an assigned
    # articles partition with lag > 0 commits nothing this long while Redis and Kafka answer.
    worker_loop_lag_seconds: float = Field(default=10.0, gt=0)
    worker_stall_seconds: float = Field(default=60.0, gt=0)
    # SIGTERM: the drain (finish the batch, commit, leave the group) may take this long, then the worker
    # exits anyway. systemd's TimeoutStopSec and Kubernetes' terminationGracePeriodSeconds allow more.
    worker_drain_seconds: float = Field(default=25.0, gt=0)
    # Test-only fault switch (docs/deploy.md): "crash" raises in the tag agent's task at its first batch,
    # "stall" makes it wait forever there. Empty (off) in every deployment.
    fault_tag_agent: Literal["", "crash", "stall"] = ""
    # systemd's notify protocol (Type=notify, WatchdogSec): set by systemd itself, hence unprefixed.
    notify_socket: str | None = Field(default=None, validation_alias=AliasChoices("NOTIFY_SOCKET"))
    watchdog_usec: int | None = Field(default=None, gt=0, validation_alias=AliasChoices("WATCHDOG_USEC"))

    # HTTP endpoints (bind 0.0.0.0 to be scraped from another host)
    worker_web_bind: str = "127.0.0.1"
    worker_web_port: int = 6066
    exporter_port: int = 9108
    # Entity ids the exporter exports even while quiet (comma-separated); others only when mentioned
    # in the longest window (docs/observability.md).
    exporter_always: str = ""
    producer_metrics_port: int = 9109
    ingest_port: int = 8088
    ingest_tokens: Path | None = None  # bearer token file of the http producer (producers.tokens)

    # Full text of summary-only feed entries (producers rss; docs/producers.md "Full text")
    fulltext_min_chars: int = Field(
        default=600, ge=0
    )  # entry text shorter than this: fetch the page; 0: never
    fulltext_user_agent: str = "newsmon-fulltext/0.1"  # operators add a contact: "name/1.0 (+URL)"
    fulltext_timeout_seconds: float = Field(default=15.0, gt=0)
    fulltext_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    fulltext_per_host: int = Field(default=2, ge=1)  # concurrent page fetches per host
    fulltext_host_delay_seconds: float = Field(default=1.0, ge=0)  # between request starts on one host
    fulltext_max_redirects: int = Field(default=5, ge=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for CLIs and the Faust app module; library code takes a Settings argument instead."""
    return Settings()
