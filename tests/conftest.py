"""Fixtures shared by all tiers: the real local stack (integration, e2e) and its settings."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from streams.model.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "ops" / "sample" / "seed"  # a copy of ../shared/seed


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def stack_settings() -> Settings:
    """Settings pointing at the test stack that `make test` started; fails (never skips) without it."""
    if not os.environ.get("NEWSMON_STACK_PROFILE"):
        pytest.fail(
            "integration and e2e tests need the local stack: run `make test`, or "
            "`python3 ops/local/stack.py --profile test run -- .venv/bin/pytest ...`"
        )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    host, port = settings.kafka_bootstrap.split(":")
    redis = urlparse(settings.redis_url)
    for name, (h, p) in {
        "kafka": (host, int(port)),
        "redis": (redis.hostname or "", redis.port or 6379),
    }.items():
        if not _reachable(h, p):
            pytest.fail(f"{name} is not reachable at {h}:{p}; is the test stack up?")
    return settings


@pytest.fixture(scope="session")
def stack_dir() -> Path:
    return Path(os.environ.get("NEWSMON_STACK_DIR", ROOT / ".run" / "test"))


@pytest.fixture(scope="session")
def prometheus_url(stack_settings: Settings) -> str:
    return os.environ["NEWSMON_PROMETHEUS_URL"]


@pytest.fixture(scope="session")
def promtool() -> str:
    cached = Path.home() / ".cache" / "newsmon" / "prometheus" / "usr" / "bin" / "promtool"
    path = os.environ.get("NEWSMON_PROMTOOL") or str(cached)
    if not Path(path).exists():
        pytest.fail("promtool not found: run `python3 ops/local/stack.py install` (make test does)")
    return path


@pytest.fixture
def make_topic(stack_settings: Settings) -> Iterator[Callable[..., str]]:
    """Factory creating fresh, uniquely named topics on the real broker; deleted afterwards."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=stack_settings.kafka_bootstrap, client_id="newsmon-tests")
    created: list[str] = []

    def create(partitions: int = 8, prefix: str = "test") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        created.append(name)
        return name

    yield create
    admin.close()
    if created:
        _delete_topics(stack_settings.kafka_bootstrap, created)


def _delete_topics(bootstrap: str, topics: list[str], patience: float = 30.0) -> None:
    """Delete with a new client, retrying: a test may have restarted the broker, which leaves an
    older client's connection dead (NodeNotReadyError) and the broker briefly unreachable."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError, UnknownTopicOrPartitionError

    deadline = time.monotonic() + patience
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="newsmon-tests-cleanup")
            try:
                admin.delete_topics(topics)
                return
            finally:
                admin.close()
        except UnknownTopicOrPartitionError:
            return  # an earlier attempt deleted them, and its reply was lost
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
