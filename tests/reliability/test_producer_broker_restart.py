"""Issue 4: the replay producer rides out a 10 s broker outage: nothing lost, nothing duplicated.

The producer is idempotent with acks=all (producers/publisher.py); its bounded in-flight buffer
blocks the replay while the broker is away (back-pressure), and the client retries the batches
that were in flight. Reading the topic back gives exactly N messages with N distinct keys.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.model.settings import Settings
from tests.e2e.harness import ROOT
from tests.reliability.faults import replay_of, stopped

pytestmark = pytest.mark.reliability
N = int(os.environ.get("NEWSMON_RELIABILITY_PRODUCER_ARTICLES", "5000"))
RATE = 400.0  # 5,000 articles over ~12.5 s, so the outage lands in the middle
OUTAGE = 10.0


def read_all(settings: Settings, topic: str, expected: int, timeout: float = 60) -> list[tuple[bytes, bytes]]:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, group_id=None
    )
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    out: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
                out += [(m.key, m.value) for m in batch]
            if all(consumer.position(tp) >= ends[tp] for tp in partitions) and len(out) >= expected:
                break
        # Anything beyond the expected count would be a duplicate: give it a moment to show up.
        for batch in consumer.poll(timeout_ms=1000).values():
            out += [(m.key, m.value) for m in batch]
    finally:
        consumer.close()
    return out


def test_replay_survives_a_broker_restart_exactly_once(
    stack_settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = make_topic(partitions=8, prefix="reliability")
    replay = replay_of(N, tmp_path)
    log = tmp_path / "replay.log"
    cmd = [sys.executable, "-m", "producers", "replay", str(replay.path), "--topic", topic,
           "--rate", str(RATE), "--no-progress", "--metrics-port", "0"]  # fmt: skip
    began = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        time.sleep(N / RATE / 3)
        assert proc.poll() is None, "the outage must land mid-replay"
        with stopped("kafka"):
            time.sleep(OUTAGE)
        code = proc.wait(180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert f"read {N}, published {N}, send failures 0, rejected 0" in text, text[-3000:]

    messages = read_all(stack_settings, topic, N)
    keys = Counter(key for key, _ in messages)
    assert len(messages) == N, f"{len(messages)} messages, {sum(c - 1 for c in keys.values())} duplicates"
    assert len(keys) == N
    assert {key.decode() for key in keys} == replay.ids
    assert all(json.loads(value)["id"] == key.decode() for key, value in messages)
    print(f"[reliability] producer, broker down {OUTAGE:.0f}s: {len(messages)} messages, {len(keys)} keys "
          f"in {time.monotonic() - began:.1f}s")  # fmt: skip
