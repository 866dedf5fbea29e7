"""ops/local/stack.py's cluster part: ports apart from every profile, and the replication settings."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("newsmon_stack", ROOT / "ops" / "local" / "stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["newsmon_stack"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def all_ports(stack: ModuleType, profile: object) -> list[int]:
    ports = stack.cluster_ports(profile)
    return [*ports.brokers, *ports.controllers, ports.redis_primary, ports.redis_replica, *ports.sentinels]


def test_cluster_ports_collide_with_no_profile_and_stay_below_ephemeral(stack: ModuleType) -> None:
    used: dict[int, str] = {}
    for profile in stack.PROFILES.values():
        own = [profile.kafka, profile.controller, profile.redis, profile.prometheus, profile.worker,
               profile.exporter, profile.producer, profile.ingest]  # fmt: skip
        pair = [port for am in stack.alertmanager_ports(profile).values() for port in (am.web, am.cluster)]
        for port in [*own, *pair, *all_ports(stack, profile)]:
            assert port not in used, f"{profile.name} port {port} also used by {used.get(port)}"
            assert port < 32768
            used[port] = profile.name
    assert all_ports(stack, stack.PROFILES["dev5"]) == list(range(21120, 21131))


def test_parts_expand_and_the_cluster_profile_defaults_to_them(stack: ModuleType) -> None:
    assert stack.expand_parts(["cluster", "redis"]) == ["kafka-1", "kafka-2", "kafka-3", "redis"]
    assert stack.default_services(stack.PROFILES["dev5"]) == [
        "kafka",
        "redis",
        "prometheus",
        "alertmanager1",
        "alertmanager2",
    ]
    assert stack.default_services(stack.PROFILES["cluster"]) == [
        "prometheus", "kafka-1", "kafka-2", "kafka-3", "redis-primary", "redis-replica",
        "sentinel-1", "sentinel-2", "sentinel-3",
    ]  # fmt: skip


def test_cluster_env_points_at_three_brokers_sentinels_and_replication_3(stack: ModuleType) -> None:
    env = dict(line.split("=", 1) for line in stack.cluster_env_lines(stack.PROFILES["dev5"]))
    assert env == {
        "NEWSMON_KAFKA_BOOTSTRAP": "127.0.0.1:21120,127.0.0.1:21121,127.0.0.1:21122",
        "NEWSMON_REDIS_URL": "redis://127.0.0.1:21126/0",
        "NEWSMON_REDIS_SENTINELS": "127.0.0.1:21128,127.0.0.1:21129,127.0.0.1:21130",
        "NEWSMON_REDIS_SENTINEL_MASTER": "newsmon",
        "NEWSMON_TOPIC_REPLICATION": "3",
    }
    assert stack.stack_env(stack.PROFILES["cluster"])["NEWSMON_TOPIC_REPLICATION"] == "3"
    assert "NEWSMON_TOPIC_REPLICATION" not in stack.stack_env(stack.PROFILES["dev5"])


def test_broker_properties_replicate_and_forbid_unclean_election(
    stack: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "ROOT", tmp_path)
    (tmp_path / ".run" / "dev5").mkdir(parents=True)
    text = stack.kafka_node_properties(stack.PROFILES["dev5"], 2).read_text()
    props = dict(line.split("=", 1) for line in text.splitlines() if line)
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:21123,2@127.0.0.1:21124,3@127.0.0.1:21125"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:21121,CONTROLLER://127.0.0.1:21124"
    assert {k: props[k] for k in ("min.insync.replicas", "unclean.leader.election.enable",
                                  "default.replication.factor", "offsets.topic.replication.factor",
                                  "transaction.state.log.replication.factor",
                                  "transaction.state.log.min.isr")} == {
        "min.insync.replicas": "2", "unclean.leader.election.enable": "false",
        "default.replication.factor": "3", "offsets.topic.replication.factor": "3",
        "transaction.state.log.replication.factor": "3", "transaction.state.log.min.isr": "2",
    }  # fmt: skip
