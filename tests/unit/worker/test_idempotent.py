"""The worker's producer writes with acks=all and idempotence; topics get the configured replicas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from streams.cli.topics import new_topic
from streams.model.settings import Settings
from streams.worker.build import create_app
from streams.worker.idempotent import IdempotentProducer

ROOT = Path(__file__).resolve().parents[3]


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, watchlist=ROOT / "ops" / "watchlist.yaml", **values)  # type: ignore[call-arg]


async def test_the_worker_producer_is_idempotent_with_acks_all() -> None:
    """Relies on Faust's private Producer._settings_extra/_new_producer (faust-streaming 0.15): if
    this fails after an upgrade, find where Faust now builds its AIOKafkaProducer's arguments."""
    app = create_app(settings(), CollectorRegistry())
    producer: Any = app.producer
    assert isinstance(producer, IdempotentProducer)
    client = producer._new_producer()
    assert client._txn_manager is not None  # aiokafka's marker of enable_idempotence=True
    assert client._sender._acks == -1


def test_faust_internal_topics_get_the_replication_setting() -> None:
    app = create_app(settings(topic_replication=3), CollectorRegistry())
    assert app.conf.topic_replication_factor == 3


def test_topics_are_created_with_the_replication_setting() -> None:
    topic = new_topic("news.articles", settings(topic_replication=3, topic_partitions=8))
    assert (topic.name, topic.num_partitions, topic.replication_factor) == ("news.articles", 8, 3)
    assert new_topic("x", settings()).replication_factor == 1
