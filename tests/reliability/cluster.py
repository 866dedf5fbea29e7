"""The cluster part of the local stack for fault tests: its env, deployments on it, who leads what."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import redis
from kafka.admin import KafkaAdminClient

from streams.model.settings import Settings
from streams.store.redis_connect import sync_redis
from tests.e2e.harness import Pipeline
from tests.reliability.faults import STACK, profile, stack

KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")  # node.id n is service kafka-n (ops/local/stack.py)


def cluster_up() -> dict[str, str]:
    """Start whatever of the cluster part is not running; its NEWSMON_* env (three brokers, sentinels)."""
    stack("up", "cluster", "sentinel")
    out = stack_stdout("cluster-env")
    return dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line)


def stack_stdout(*args: str) -> str:
    result = subprocess.run([sys.executable, str(STACK), "--profile", profile(), *args],
                            capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return result.stdout


def cluster_pipeline(
    env: Mapping[str, str], workdir: Path, stack_dir: Path, watchlist: Mapping[str, Any]
) -> Pipeline:
    """A Pipeline whose workers, producers and checks all use the cluster part: the env is set
    before Pipeline reads it (it creates the topics, RF 3), and the checks read Redis through Sentinel."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        pipeline = Pipeline(Settings(_env_file=None), workdir, stack_dir, watchlist)  # type: ignore[call-arg]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    pipeline.redis.close()
    pipeline.redis = sync_redis(pipeline.settings, decode_responses=True, socket_timeout=5)
    return pipeline


def leaders(bootstrap: str, topics: Iterable[str]) -> Counter[int]:
    """Partitions led per broker node id, over `topics`."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="newsmon-tests-leaders")
    try:
        described = admin.describe_topics(list(topics))
    finally:
        admin.close()
    return Counter(p["leader_id"] for topic in described for p in topic["partitions"] if p["leader_id"] >= 0)


def busiest_broker(pipeline: Pipeline) -> tuple[str, int]:
    """The broker leading most of the deployment's partitions, and how many it leads."""
    s = pipeline.settings
    counts = leaders(
        s.kafka_bootstrap, [s.topic_articles, s.topic_tagged, s.topic_alerts, s.topic_deadletter]
    )
    node, led = counts.most_common(1)[0]
    return KAFKA_NODES[node - 1], led


def primary_port(pipeline: Pipeline) -> int | None:
    """The Redis primary's port as Sentinel names it; None while there is none (during a vote)."""
    try:
        return int(pipeline.redis.connection_pool.get_master_address()[1])  # type: ignore[attr-defined]
    except redis.RedisError:
        return None


def redis_service(env: Mapping[str, str], port: int) -> str:
    """The stack service listening on `port`: the part's first primary is at NEWSMON_REDIS_URL."""
    first = int(env["NEWSMON_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    return "redis-primary" if port == first else "redis-replica"
