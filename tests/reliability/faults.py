"""Fault injection on the local stack, and exact expectations for a replay of the sample's first N lines.

Adds to tests/e2e/harness.py without changing it: services are stopped and started through
ops/local/stack.py with the profile of the running stack (NEWSMON_STACK_PROFILE), by PID.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from kafka import KafkaConsumer, TopicPartition

from tests.e2e.harness import SAMPLE, Pipeline, expected_window, sample_expected
from tests.e2e.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "ops" / "local" / "stack.py"
WINDOWS = (1, 5, 60, 1440)
# The planted burst of the sample (tests/e2e/test_pipeline.py): one firing and one resolved alert.
SPIKE_ALERTS = {("firing", "2026-11-21T12:02:00Z"), ("resolved", "2026-11-21T12:15:00Z")}


# -- the stack ------------------------------------------------------------------------------------------


def profile() -> str:
    name = os.environ.get("NEWSMON_STACK_PROFILE", "")
    if not name:
        raise AssertionError("NEWSMON_STACK_PROFILE is not set: run under `stack.py --profile P run`")
    return name


def stack(*args: str, timeout: float = 180) -> str:
    """Run ops/local/stack.py with the current profile; fails loudly with its output."""
    result = subprocess.run(
        [sys.executable, str(STACK), "--profile", profile(), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, f"stack.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result.stderr


def ensure_stack_up() -> None:
    """Start whatever infrastructure is not running (a no-op for running services)."""
    stack("up")


@contextmanager
def stopped(service: str) -> Iterator[float]:
    """Stop one service (SIGTERM by PID via stack.py, data kept) and always start it again."""
    began = time.monotonic()
    try:
        stack("down", service)
        yield began
    finally:
        stack("up", service)


@contextmanager
def redis_persisting(pipeline: Pipeline) -> Iterator[None]:
    """Make the running Redis write an RDB snapshot on shutdown, so a stop/start keeps its data.

    The test stack runs Redis with `--save '' --appendonly no`; on restart Redis still loads
    dump.rdb from its --dir, so a save point set at run time is enough. Undone afterwards.
    """
    pipeline.redis.config_set("save", "3600 1")
    try:
        yield
    finally:
        try:
            pipeline.redis.config_set("save", "")
        finally:
            dump = Path(os.environ.get("NEWSMON_STACK_DIR", ROOT / ".run" / profile())) / "data" / "redis"
            (dump / "dump.rdb").unlink(missing_ok=True)


# -- the replay and what it must produce ----------------------------------------------------------------


def minute_of_iso(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp()) // 60


def stamp_of_minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%MZ")


@dataclass
class Replay:
    """The first `n` lines of ops/sample/articles.jsonl and their exact expected results."""

    path: Path
    articles: list[dict[str, Any]]
    mentions: dict[str, dict[str, int]]  # article id -> entity -> n
    per_minute: dict[str, dict[str, int]]  # entity -> "YYYY-mm-ddTHH:MMZ" -> n
    clock: int  # the final stream clock (minute)
    rule_hits: set[str] = field(default_factory=set)

    @property
    def ids(self) -> set[str]:
        return {a["id"] for a in self.articles}

    def windows(self) -> dict[int, dict[str, int]]:
        return {w: expected_window(self.per_minute, self.clock, w) for w in WINDOWS}

    def totals(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for mentions in self.mentions.values():
            totals.update(mentions)
        return dict(totals)


def replay_of(n: int, workdir: Path) -> Replay:
    expected = sample_expected()["articles"]
    lines = (SAMPLE / "articles.jsonl").read_bytes().splitlines(keepends=True)[:n]
    assert len(lines) == n
    path = workdir / f"articles-{n}.jsonl"
    path.write_bytes(b"".join(lines))
    articles = [json.loads(line) for line in lines]
    mentions = {a["id"]: expected[a["id"]] for a in articles}
    per_minute: dict[str, Counter[str]] = {}
    for article in articles:
        stamp = stamp_of_minute(minute_of_iso(article["published_at"]))
        for entity, count in mentions[article["id"]].items():
            per_minute.setdefault(entity, Counter())[stamp] += count
    hits = {aid for aid, m in mentions.items() if "carter" in m and "raqqa" in m}
    clock = max(minute_of_iso(a["published_at"]) for a in articles)
    return Replay(path, articles, mentions, {e: dict(c) for e, c in per_minute.items()}, clock, hits)


def start_replay(pipeline: Pipeline, replay: Replay, rate: float | None = None) -> subprocess.Popen[bytes]:
    """The replay CLI in the background (so faults hit it mid-stream); see finish_replay."""
    cmd = [sys.executable, "-m", "producers", "--log-level", "WARNING", "replay", str(replay.path),
           "--no-progress", "--metrics-port", "0"]  # fmt: skip
    if rate:
        cmd += ["--rate", str(rate)]
    log = open(pipeline.workdir / "replay.log", "ab")  # noqa: SIM115 (closed by the child's exit)
    return subprocess.Popen(cmd, env=pipeline.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def finish_replay(pipeline: Pipeline, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise
    log = (pipeline.workdir / "replay.log").read_text(errors="replace")
    assert code == 0, f"replay exited {code}:\n{log[-3000:]}"


def read_all(bootstrap: str, topic: str, timeout: float = 60) -> list[Any]:
    """Every message of a topic up to its end offsets at call time (no idle wait)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end in {timeout:.0f}s"
            for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
                out += batch
        return out
    finally:
        consumer.close()


def seen_count(pipeline: Pipeline) -> int:
    """Articles counted in Redis so far (one `seen:` marker per article id)."""
    return sum(
        1 for _ in pipeline.redis.scan_iter(match=pipeline.settings.redis_prefix + "seen:*", count=5000)
    )


def assert_workers_alive(pipeline: Pipeline) -> None:
    """Fail at once (with the crash) when a worker the test still counts on has exited."""
    for name, (proc, _, log) in pipeline.workers.items():
        if proc.poll() is not None:
            lines = log.read_text(errors="replace").splitlines()
            crashes = [line for line in lines if "Crashed reason=" in line or "Error" in line[:200]]
            raise AssertionError(f"worker {name} exited ({proc.returncode}):\n" + "\n".join(crashes[:8]))


def wait_counted(pipeline: Pipeline, at_least: int, timeout: float = 120) -> None:
    def counted() -> bool:
        assert_workers_alive(pipeline)
        return seen_count(pipeline) >= at_least

    pipeline.wait(counted, timeout, f"{at_least} articles counted")


def assert_no_crash(pipeline: Pipeline) -> None:
    """No agent of a running worker crashed (Faust restarts a crashed agent past the batch it held)."""
    for name, (_, _, log) in pipeline.workers.items():
        crashes = [line for line in log.read_text(errors="replace").splitlines()
                   if "Crashed reason=" in line and "CancelledError" not in line]  # fmt: skip
        assert not crashes, f"worker {name}: " + "\n".join(crashes[:5])


# -- the final state ------------------------------------------------------------------------------------


@dataclass
class Observed:
    """What a run left behind; the docs quote these numbers."""

    counted: int = 0
    tagged_messages: int = 0
    tagged_distinct: int = 0
    alerts_delivered: int = 0
    receiver_refused: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        more = "".join(f", {k}={v}" for k, v in self.extra.items())
        return (
            f"counted={self.counted} tagged_messages={self.tagged_messages} "
            f"tagged_distinct={self.tagged_distinct} alerts={self.alerts_delivered} "
            f"refused={self.receiver_refused}{more}"
        )


def assert_exact(
    pipeline: Pipeline,
    replay: Replay,
    receiver: Receiver | None,
    *,
    spikes: bool = True,
    timeout: float = 120,
) -> Observed:
    """Every article counted once, windows exact at the final clock, one tagged id per article,
    every alert delivered once per webhook-id with a valid signature."""
    n = len(replay.articles)
    wait_counted(pipeline, n, timeout)
    assert_no_crash(pipeline)
    pipeline.wait(lambda: pipeline.clock_minute() == replay.clock, 60, "the stream clock to settle")
    observed = Observed(counted=seen_count(pipeline))
    assert observed.counted == n
    for window, counts in replay.windows().items():
        got = pipeline.window(window)
        diff = {
            e: (got.get(e, 0), counts.get(e, 0))
            for e in set(got) | set(counts)
            if got.get(e) != counts.get(e)
        }
        assert got == counts, f"window {window} min: (got, expected) {diff}"
    assert pipeline.clock_minute() == replay.clock

    messages = read_all(pipeline.settings.kafka_bootstrap, pipeline.settings.topic_tagged)
    tagged: dict[str, Any] = {}
    for message in messages:
        value = json.loads(message.value)
        assert message.key.decode() == value["id"]
        assert tagged.setdefault(value["id"], value["mentions"]) == value["mentions"]
    observed.tagged_messages, observed.tagged_distinct = len(messages), len(tagged)
    assert set(tagged) == replay.ids
    assert tagged == replay.mentions

    if receiver is not None:
        wanted = len(replay.rule_hits) + (len(SPIKE_ALERTS) if spikes else 0)
        try:
            pipeline.wait(
                lambda: len(receiver.by_kind("rule")) >= len(replay.rule_hits), timeout, "rule alerts"
            )
        except AssertionError as err:
            got = {b["newsmon"]["evidence"][0]["article_id"] for b in receiver.by_kind("rule").values()}
            missing = sorted(replay.rule_hits - got)
            raise AssertionError(
                f"{err}: {len(got)} of {len(replay.rule_hits)}; missing {missing[:10]}"
            ) from None
        try:
            pipeline.wait(lambda: len(receiver.deliveries) >= wanted, 30, f"{wanted} alerts delivered")
        except AssertionError as err:
            raise AssertionError(f"{err}; spike alerts received: {spike_summary(receiver)}") from None
        time.sleep(1)  # a duplicate would arrive right behind
        rules = receiver.by_kind("rule")
        assert {b["newsmon"]["evidence"][0]["article_id"] for b in rules.values()} == replay.rule_hits
        assert len(rules) == len(replay.rule_hits)
        if spikes:
            spike_alerts = {(b["newsmon"]["status"], b["newsmon"].get("starts_at") if b["newsmon"]["status"] == "firing"
                             else b["newsmon"].get("ends_at")) for b in receiver.by_kind("spike").values()}  # fmt: skip
            assert spike_alerts == SPIKE_ALERTS, spike_summary(receiver)
        assert len(receiver.deliveries) == wanted
        assert all(count == 1 for count in receiver.deliveries.values()), dict(receiver.deliveries)
        assert receiver.rejected == 0
        observed.alerts_delivered = sum(receiver.deliveries.values())
        observed.receiver_refused = receiver.refused
    return observed


def spike_summary(receiver: Receiver) -> list[dict[str, Any]]:
    keys = ("status", "starts_at", "ends_at", "count", "baseline")
    return [{k: b["newsmon"].get(k) for k in keys} | {"webhook_id": wid}
            for wid, b in receiver.by_kind("spike").items()]  # fmt: skip


# -- a receiver that can also hang ---------------------------------------------------------------------


class FlakyReceiver(Receiver):
    """The e2e receiver plus `hanging`: requests are held for `hang_seconds` (the sender times out)."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.hanging = False
        self.hang_seconds = 10.0
        self.hung = 0

    async def _handle(self, request: web.Request) -> web.Response:
        if self.hanging:
            self.hung += 1
            await request.read()
            await asyncio.sleep(self.hang_seconds)
            return web.Response(status=503, text="too late")
        return await super()._handle(request)


def report(name: str, observed: Observed) -> None:
    """One line per fault in the pytest output (-s) and in .run/<profile>/reliability.log."""
    line = f"[reliability] {name}: {observed.line()} in {observed.seconds:.1f}s"
    print(line)
    out = Path(os.environ.get("NEWSMON_STACK_DIR", ROOT / ".run" / profile())) / "reliability.log"
    with open(out, "a", encoding="utf-8") as handle:
        handle.write(f"{datetime.now(UTC).isoformat()} {line}\n")
