"""The local stack is real: Kafka 3.9.2 round-trips, Faust reaches Redis, Prometheus scrapes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient, KafkaProducer
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from streams.model.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_broker_is_kafka_3_9_2(stack_settings: Settings, stack_dir: Path) -> None:
    log = (stack_dir / "logs" / "kafka.log").read_text(errors="replace")
    assert "Kafka version: 3.9.2" in log
    admin = KafkaAdminClient(bootstrap_servers=stack_settings.kafka_bootstrap)
    try:
        # ApiVersions of a 3.9 broker; kafka-python reports the newest version it can identify.
        assert admin._client.check_version() >= (3, 9)
        assert len(admin.describe_cluster()["brokers"]) == 1
    finally:
        admin.close()


async def test_kafka_python_to_aiokafka_roundtrip_1000(stack_settings: Settings, make_topic) -> None:
    topic = make_topic(partitions=8)
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap, acks="all")
    sent = {f"k{i}".encode(): f"value-{i}-داعش".encode() for i in range(1000)}
    for key, value in sent.items():
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack_settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"rt-{uuid.uuid4().hex}",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: dict[bytes, bytes] = {}
    partitions: Counter[int] = Counter()
    try:
        async with asyncio.timeout(60):
            while len(received) < 1000:
                batch = await consumer.getmany(timeout_ms=1000)
                for tp, messages in batch.items():
                    for message in messages:
                        received[message.key] = message.value
                        partitions[tp.partition] += 1
    finally:
        await consumer.stop()
    assert received == sent
    assert sum(partitions.values()) == 1000  # no duplicates
    assert sorted(partitions) == list(range(8))  # keys spread over all 8 partitions


def test_faust_agent_consumes_real_broker_and_writes_real_redis(stack_settings: Settings, make_topic) -> None:
    topic = make_topic(partitions=8)
    counts = f"probe:{uuid.uuid4().hex}"
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap, acks="all")
    for i in range(200):
        producer.send(topic, key=str(i).encode(), value=f"word{i % 4}".encode())
    producer.flush()
    producer.close()

    env = {**os.environ, "PROBE_TOPIC": topic, "PROBE_HASH": counts, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        # Faust binds its web port even with web_enabled=False: the profile's worker port, not 6066
        # (another profile's test run may hold that one).
        [
            sys.executable,
            "-m",
            "faust",
            "-A",
            "tests.integration.faust_probe_app",
            "worker",
            "-l",
            "warn",
            "--web-port",
            str(stack_settings.worker_web_port),
            "--web-bind",
            "127.0.0.1",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    store = redis.Redis.from_url(stack_settings.redis_url, decode_responses=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and sum(map(int, store.hgetall(counts).values())) < 200:
            assert worker.poll() is None, worker.communicate()[0].decode(errors="replace")[-3000:]
            time.sleep(0.5)
        assert store.hgetall(counts) == {"word0": "50", "word1": "50", "word2": "50", "word3": "50"}
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        store.delete(counts)


def _prometheus_query(base: str, query: str) -> list[dict]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success"
    return body["data"]["result"]


def test_prometheus_scrapes_a_target(prometheus_url: str, stack_dir: Path) -> None:
    registry = CollectorRegistry()
    probe = Gauge("newsmon_stack_probe_value", "Value set by the stack test", registry=registry)
    token = uuid.uuid4().hex[:8]
    probe.set(42.5)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    port = server.server_address[1]
    target = stack_dir / "targets" / f"probe-{token}.json"
    target.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"probe": token}}]))
    try:
        deadline = time.monotonic() + 30
        result: list[dict] = []
        while time.monotonic() < deadline and not result:
            result = _prometheus_query(prometheus_url, f'newsmon_stack_probe_value{{probe="{token}"}}')
            time.sleep(0.5)
        assert result, "Prometheus did not scrape the probe target within 30 s"
        assert float(result[0]["value"][1]) == 42.5
    finally:
        target.unlink()
        server.shutdown()
        thread.join(5)
