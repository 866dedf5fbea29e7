"""Shared helpers for the pipeline, latency and cost benchmarks: corpus, stack, topics, worker, tables."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CACHE = Path(os.environ.get("NEWSMON_BENCH_CACHE", Path.home() / ".cache" / "newsmon" / "bench"))
SEED = 42
CORPUS_COUNT = 100_000
PYTHON = str(REPO / ".venv" / "bin" / "python")
QUIX_VENV = CACHE / "quix-venv"  # built by tests/bench/quix_peer.py ensure_venv (make quix-venv)


# -- corpus ---------------------------------------------------------------------------------------


def corpus_path(count: int = CORPUS_COUNT, seed: int = SEED) -> Path:
    """The synthetic corpus (producers.sample), generated once into the cache outside the repo."""
    path = CACHE / f"articles-s{seed}-n{count}.jsonl"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        expected = CACHE / f"expected-s{seed}-n{count}.json"
        cmd = [PYTHON, "-m", "producers", "--log-level", "WARNING", "sample"]
        cmd += ["--out", str(path), "--expected", str(expected), "--count", str(count), "--seed", str(seed)]
        subprocess.run(cmd, cwd=REPO, check=True)
    return path


def corpus_lines(articles: int) -> list[bytes]:
    """The first `articles` lines of the cached corpus (encoded JSON, no newline)."""
    lines: list[bytes] = []
    with open(corpus_path(max(articles, CORPUS_COUNT)), "rb") as handle:
        for line in handle:
            if len(lines) >= articles:
                break
            lines.append(line.rstrip(b"\n"))
    return lines


# -- stack ----------------------------------------------------------------------------------------


def stack_env(profile: str) -> dict[str, str]:
    """The NEWSMON_* variables of a running ops/local/stack.py profile (read-only: nothing started)."""
    out = subprocess.run(
        [sys.executable, str(REPO / "ops" / "local" / "stack.py"), "--profile", profile, "env"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    env = {}
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return env


def use_stack(profile: str) -> dict[str, str]:
    env = stack_env(profile)
    os.environ.update(env)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway redis-server of our own (so INFO commandstats sees only us); stopped by its PID."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="newsmon-bench-redis-"))
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    cmd += ["--dir", str(workdir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: _reachable(port), 10, "private redis")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> float:
    """Poll `check` until true; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def load() -> str:
    """The 1/5/15-minute load averages, to print beside every figure."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


# -- topics ---------------------------------------------------------------------------------------


def create_topic(bootstrap: str, partitions: int = 8, prefix: str = "bench") -> str:
    from kafka.admin import KafkaAdminClient, NewTopic

    name = f"{prefix}.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="newsmon-bench")
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return name


def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="newsmon-bench")
    try:
        existing = set(admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


def fill_topic(bootstrap: str, topic: str, lines: Sequence[bytes]) -> None:
    """Pre-load the topic (keyed by article id, like the producers) and wait for every ack."""
    import orjson
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=1 << 20,
        max_request_size=4 << 20, enable_idempotence=False,
    )  # fmt: skip
    for line in lines:
        producer.send(topic, key=orjson.loads(line)["id"].encode(), value=line)
    producer.flush(600)
    producer.close()


# -- the newsmon worker ---------------------------------------------------------------------------


@dataclass
class Worker:
    """A `faust -A streams.app worker` subprocess and its /metrics port."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        from tests.e2e.harness import scrape_metric

        return scrape_metric(self.port, name, labels)

    def tagged(self) -> float:
        try:
            return self.metric("newsmon_articles_total", {"outcome": "tagged"})
        except OSError:
            return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)


def start_worker(
    env: Mapping[str, str], workdir: Path, patches: str = "", timeout: float = 90, streams_from: str = ""
) -> Worker:
    """Start one worker; `patches` (comma-separated names in PATCHES) are applied first; `streams_from`
    is a directory whose `streams` package replaces the repo's (a copy of an earlier version)."""
    port = free_port()
    log = workdir / f"worker-{port}.log"
    cmd = [PYTHON, "-m", "faust", "-A", "streams.app", "worker", "-l", "info", "--web-port", str(port)]
    if patches:
        cmd = [PYTHON, str(REPO / "tests" / "bench" / "common.py"), "patched-worker", patches, *cmd[3:]]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, env={**env, "PYTHONPATH": ":".join(filter(None, [streams_from, str(REPO)]))}, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    worker = Worker(proc, port, log)
    wait_for(lambda: _metrics_up(worker), timeout, "worker /metrics", every=0.1)
    return worker


def _metrics_up(worker: Worker) -> bool:
    if worker.proc.poll() is not None:
        raise RuntimeError(worker.log.read_text(errors="replace")[-4000:])
    try:
        worker.metric("newsmon_articles_total")
    except OSError:
        return False
    return True


def pipeline_env(redis_url: str, watchlist: Path, articles: str = "", partitions: int = 8) -> dict[str, str]:
    """Private topics, consumer group and Redis prefix for one newsmon deployment; topics created.

    `articles` names an existing (pre-loaded) input topic; by default a private one is created.
    """
    from streams.cli.topics import ensure_topics
    from streams.model.settings import Settings

    tag = uuid.uuid4().hex[:10]
    env = {
        **os.environ,
        "NEWSMON_APP_ID": f"bench-{tag}",
        "NEWSMON_TOPIC_ARTICLES": articles or f"bench.{tag}.articles",
        "NEWSMON_TOPIC_TAGGED": f"bench.{tag}.tagged",
        "NEWSMON_TOPIC_ALERTS": f"bench.{tag}.alerts",
        "NEWSMON_TOPIC_DEADLETTER": f"bench.{tag}.deadletter",
        "NEWSMON_TOPIC_PARTITIONS": str(partitions),
        "NEWSMON_REDIS_URL": redis_url,
        "NEWSMON_REDIS_PREFIX": f"bench{tag}:",
        "NEWSMON_WATCHLIST": str(watchlist),
        "NEWSMON_BENCH_WEBHOOK_SECRET": SECRET,
        "NEWSMON_PARTITION_IDLE_SECONDS": "3",
    }
    settings = Settings(_env_file=None, **settings_fields(env))  # type: ignore[call-arg,arg-type]
    ensure_topics(settings)
    return env


def settings_fields(env: Mapping[str, str]) -> dict[str, str]:
    from streams.model.settings import Settings

    fields = {k.removeprefix("NEWSMON_").lower(): v for k, v in env.items() if k.startswith("NEWSMON_")}
    return {k: v for k, v in fields.items() if k in Settings.model_fields}


def pipeline_topics(env: Mapping[str, str]) -> list[str]:
    keys = ("ARTICLES", "TAGGED", "ALERTS", "DEADLETTER")
    return [env[f"NEWSMON_TOPIC_{k}"] for k in keys] + [f"{env['NEWSMON_APP_ID']}-__assignor-__leader"]


def drop_redis_prefix(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=5000))
    for start in range(0, len(keys), 5000):
        client.delete(*keys[start : start + 5000])
    client.close()


SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWtleS0xMjM0NTY3ODkwYWI="


def write_watchlist(
    path: Path, extra: Mapping[str, Any] | None = None, receiver_url: str | None = None
) -> Path:
    import yaml

    from tests.e2e.harness import base_watchlist

    data = base_watchlist(
        extra,
        receiver_url,
        receiver="bench",
        secret_env="NEWSMON_BENCH_WEBHOOK_SECRET",
        rate_limit_per_s=1000,
    )
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# -- reporting ------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (readable in a terminal too)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join([line, rule, *body])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# -- a worker with monkeypatches (instrumentation, or trying a change before it lands) --------------


def patch_count_redis() -> None:
    """Instrumentation: count redis-py sends (one per round trip) into $NEWSMON_BENCH_ROUND_TRIPS."""
    import threading

    from redis.asyncio.connection import AbstractConnection

    path = Path(os.environ["NEWSMON_BENCH_ROUND_TRIPS"])
    sends = [0]
    original = AbstractConnection.send_packed_command

    async def counted(self: Any, command: Any, check_health: bool = True) -> None:
        sends[0] += 1
        await original(self, command, check_health)

    def dump() -> None:
        while True:
            path.write_text(str(sends[0]))
            time.sleep(0.5)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    threading.Thread(target=dump, daemon=True).start()


def patch_no_stories() -> None:
    """The worker without its story step, for before/after in one run (docs/stories.md): no sketch
    and no story section in the counting call; every article is a story of its own."""
    from streams.stories.sketch import Sketch
    from streams.worker import batch, tag_step

    batch.sketch_joined = lambda joined, params=None: Sketch(None, b"", 0)  # type: ignore[assignment]

    async def record(self: Any, tagged: Any, spikes: bytes | None) -> Any:
        return await self.counter.record(tagged.tallies, time.time(), spikes=spikes)

    assign = batch.Batch.assign_stories

    def own_stories(self: Any, stories: Any, rule_stories: Any = ()) -> None:
        assign(self, [a.article.id for a in self.articles], rule_stories)

    tag_step.TagStep.record = record  # type: ignore[method-assign]
    batch.Batch.assign_stories = own_stories  # type: ignore[method-assign]


PATCHES: dict[str, Callable[[], None]] = {
    "count_redis": patch_count_redis,
    "no_stories": patch_no_stories,
}


def _patched_worker(argv: list[str]) -> None:
    """`common.py patched-worker NAMES faust-args...`: apply PATCHES[NAME] for each, then run faust."""
    for name in argv[0].split(","):
        PATCHES[name]()
    from faust.cli.faust import cli

    sys.argv = ["faust", *argv[1:]]
    cli()


if __name__ == "__main__":
    if sys.argv[1:2] == ["patched-worker"]:
        _patched_worker(sys.argv[2:])
