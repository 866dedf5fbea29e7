"""Create newsmon's topics on the broker (idempotent): `python -m streams.topics`."""

from __future__ import annotations

import logging
import sys

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.model.settings import Settings, get_settings
from streams.worker.kafka import kafka_python_options

log = logging.getLogger(__name__)


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic_articles, settings.topic_tagged, settings.topic_alerts, settings.topic_deadletter]


def new_topic(name: str, settings: Settings) -> NewTopic:
    return NewTopic(
        name, num_partitions=settings.topic_partitions, replication_factor=settings.topic_replication
    )


def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics (see `new_topic`); returns the ones created."""
    admin = KafkaAdminClient(client_id="newsmon-topics", **kafka_python_options(settings))
    try:
        existing = set(admin.list_topics())
        wanted = [name for name in topic_names(settings) if name not in existing]
        for name in wanted:
            try:
                admin.create_topics([new_topic(name, settings)])
            except TopicAlreadyExistsError:  # created concurrently by another process
                continue
        return wanted
    finally:
        admin.close()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python narrates every connection at INFO
    settings = get_settings()
    created = ensure_topics(settings)
    for name in topic_names(settings):
        state = "created" if name in created else "exists"
        log.info("topic %-20s %s (%s)", name, state, settings.kafka_bootstrap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
