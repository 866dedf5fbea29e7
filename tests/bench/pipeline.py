"""End-to-end throughput: one newsmon worker vs bare aiokafka / kafka-python loops and a Quix Streams peer.

Run: .venv/bin/python tests/bench/pipeline.py [--articles 100000] [--repeat 1] [--patches NAME,...]
        [--py-spy OUT_PREFIX] [--no-peer] [--baseline DIR] [--profile test]   (method and results: docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench import common
from tests.bench.quix_peer import ensure_venv

SPIKE = {
    "id": "raqqa_burst", "entities": ["raqqa"], "window": "10m", "baseline": "1h", "min_count": 30,
    "ratio": 4, "min_sources": 3, "warmup": "1h", "cooldown": "3h", "severity": "warning",
}  # fmt: skip
RULES = [
    {"id": "carter_raqqa", "expr": "carter AND raqqa", "severity": "critical"},
    {"id": "isis_not_iraq", "expr": "isis AND NOT (iraq OR syria)", "severity": "info"},
]
TIMEOUT = 1800.0
NEWSMON = "newsmon worker"


@dataclass
class Result:
    """One measured run: `articles` processed in `seconds`, after the first batch was seen."""

    name: str
    articles: int
    seconds: float
    cpu_seconds: float  # process CPU (user + system, all threads) over the same span

    @property
    def rate(self) -> float:
        return self.articles / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.articles * 1e6


@dataclass
class Setup:
    bootstrap: str
    topic: str
    articles: int
    mean_bytes: float
    redis_url: str
    workdir: Path
    watchlist: Path


# -- ceilings -------------------------------------------------------------------------------------


class _Span:
    """Times a consumer loop from its first fetched batch (start-up and the first fetch left out)."""

    def __init__(self) -> None:
        self.count, self.first, self.start, self.cpu = 0, 0, 0.0, 0.0

    def add(self, fetched: int) -> None:
        """Count one fetch round; the first non-empty one starts the clocks."""
        self.count += fetched
        if not self.first and self.count:
            self.first, self.start, self.cpu = self.count, time.perf_counter(), time.process_time()

    def result(self, name: str) -> Result:
        return Result(
            name, self.count - self.first, time.perf_counter() - self.start, time.process_time() - self.cpu
        )


def _decode_each(messages: Sequence[Any]) -> None:
    for message in messages:
        orjson.loads(message.value)


async def _aiokafka_loop(
    setup: Setup, name: str, handle: Callable[[Sequence[Any]], object], max_records: int | None = None
) -> Result:
    """A bare aiokafka getmany() loop calling `handle` on each partition's messages."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        setup.topic, bootstrap_servers=setup.bootstrap, group_id=None, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        span = _Span()
        while span.count < setup.articles:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=max_records)
            for messages in fetched.values():
                handle(messages)
            span.add(sum(len(messages) for messages in fetched.values()))
        return span.result(name)
    finally:
        await consumer.stop()


def aiokafka_loop(setup: Setup) -> Result:
    return asyncio.run(_aiokafka_loop(setup, "ceiling: aiokafka + orjson", _decode_each))


def aiokafka_tag_loop(setup: Setup) -> Result:
    """aiokafka batches of <= 500 through newsmon's pure step (decode, match, rules): no Redis, no sends."""
    from streams.watchlist.compiled import compile_watchlist
    from streams.worker.batch import tag_batch

    compiled = compile_watchlist(setup.watchlist)

    def tag(messages: Sequence[Any]) -> None:
        tag_batch(compiled, messages, 1 << 20, datetime.now(UTC))

    return asyncio.run(_aiokafka_loop(setup, "ceiling: aiokafka + newsmon tag_batch", tag, max_records=500))


def kafka_python_loop(setup: Setup, check_crcs: bool = True) -> Result:
    """Defaults, or without CRC checks: kafka-python computes CRC-32C in pure Python unless the
    `crc32c` package is installed, and that dominates its loop."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        setup.topic, bootstrap_servers=setup.bootstrap, group_id=None, auto_offset_reset="earliest",
        enable_auto_commit=False, check_crcs=check_crcs,
    )  # fmt: skip
    try:
        span = _Span()
        while span.count < setup.articles:
            fetched = consumer.poll(timeout_ms=1000)
            for messages in fetched.values():
                _decode_each(messages)
            span.add(sum(len(messages) for messages in fetched.values()))
        return span.result("ceiling: kafka-python + orjson" + ("" if check_crcs else " (check_crcs=False)"))
    finally:
        consumer.close()


# -- the runs that need a process -----------------------------------------------------------------


def cpu_of(pid: int) -> Callable[[], float]:
    process = psutil.Process(pid)

    def cpu() -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    return cpu


def progress_run(
    name: str, total: int, progress: Callable[[], float], proc: subprocess.Popen[bytes]
) -> Result:
    """Poll a counter from its first non-zero value until it reaches `total`."""
    deadline = time.monotonic() + TIMEOUT
    first, start, cpu, cpu_start = 0.0, 0.0, cpu_of(proc.pid), 0.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} died")
        done = progress()
        now, used = time.perf_counter(), cpu()
        if not first and done:
            first, start, cpu_start = done, now, used
        if done >= total:
            return Result(name, int(done - first), now - start, used - cpu_start)
        time.sleep(0.2)
    raise TimeoutError(f"{name}: not done after {TIMEOUT:.0f}s")


def newsmon_run(setup: Setup, patches: str = "", spy: str = "", streams_from: str = "") -> Result:
    env = common.pipeline_env(setup.redis_url, setup.watchlist, articles=setup.topic)
    worker = common.start_worker(env, setup.workdir, patches=patches, streams_from=streams_from)
    recorder = start_py_spy(worker.proc.pid, spy) if spy else None
    try:
        label = NEWSMON + (" (before)" if streams_from else "") + (f" + {patches}" if patches else "")
        label += " (under py-spy)" if spy else ""
        result = progress_run(label, setup.articles, worker.tagged, worker.proc)
        published = topic_size(setup.bootstrap, env["NEWSMON_TOPIC_TAGGED"])
        if published < setup.articles:
            raise RuntimeError(f"{label}: {published:,} tagged messages for {setup.articles:,} articles")
        return result
    finally:
        if recorder is not None:
            stop_py_spy(recorder)
        worker.stop()
        common.delete_topics(setup.bootstrap, common.pipeline_topics(env)[1:])
        common.drop_redis_prefix(setup.redis_url, env["NEWSMON_REDIS_PREFIX"])


def topic_size(bootstrap: str, topic: str) -> int:
    """Messages in a topic (sum of end offsets): every tagged record must have been published."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def peer_run(setup: Setup) -> Result:
    import redis

    prefix = f"quix{uuid.uuid4().hex[:8]}:"
    out_topic = f"bench.{uuid.uuid4().hex[:10]}.quix-tagged"
    args = [setup.bootstrap, setup.topic, out_topic, setup.redis_url, prefix, str(setup.watchlist)]
    script = str(common.REPO / "tests" / "bench" / "quix_peer.py")
    with open(setup.workdir / "quix-peer.log", "ab") as log:
        proc = subprocess.Popen(
            [str(ensure_venv(common.QUIX_VENV)), script, *args], cwd=setup.workdir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    client = redis.Redis.from_url(setup.redis_url)
    try:
        progress = lambda: float(client.get(prefix + "articles") or 0)  # noqa: E731
        return progress_run("peer: Quix Streams app", setup.articles, progress, proc)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
        common.delete_topics(setup.bootstrap, [out_topic])
        common.drop_redis_prefix(setup.redis_url, prefix)


# -- py-spy ---------------------------------------------------------------------------------------


def start_py_spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    spy = str(common.REPO / ".venv" / "bin" / "py-spy")
    cmd = [spy, "record", "-p", str(pid), "-r", "100", "--nonblocking", "-f", "raw", "-o", out + ".txt"]
    recorder = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return recorder


def stop_py_spy(recorder: subprocess.Popen[bytes]) -> None:
    recorder.send_signal(signal.SIGINT)
    recorder.wait(60)


FRAMEWORK = ("streams/", "faust/", "aiokafka/", "redis/", "mode/", "prometheus_client/", "pydantic/")


def hotspots(collapsed: Path, top: int = 25) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """From py-spy's raw (collapsed stack) output: own time by package, and inclusive time of the
    project's and its frameworks' functions (the wrappers every stack passes through left out)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = [short_frame(f) for f in stack.split(";") if " (" in f]
        if not frames:
            continue
        n = int(samples)
        total += n
        own[package(frames[-1])] += n
        for frame in {f for f in frames if f.split(" (", 1)[1].startswith(FRAMEWORK)}:
            inclusive[frame] += n
    shares = [(f, n / total) for f, n in inclusive.most_common() if n / total < 0.5]
    return [(p, n / total) for p, n in own.most_common(12)], shares[:top]


BUCKETS = (
    ("decode + validate + match + rules (tag_batch)", ("tag_batch (",)),
    ("Redis: the counting Lua call", ("RollingCounts.record (",)),
    ("Redis: spike detector", ("SpikeStep.", "TagStep.spike_alerts")),
    ("publish (batched tagged records, Faust sends)", ("kafka_outbox.<locals>.send (", "TagStep.publish (", "Topic.send (",
                                                       "_send_now", "publish_message", "send_batched (")),
    ("metrics (observe, /metrics page)", ("TagStep.observe (", "metrics_page")),
    ("Faust consume path", ("Fetcher._fetcher", "_drain_messages", "WorkerThread.run", "Stream._c_aiter",
                            "on_message", "take_events", "_passive_drainer", "Consumer.getmany")),
    ("delivery agent, timers", ("<locals>.deliver", "advance_clock", "report_lag", "watch_watchlist")),
)  # fmt: skip


def buckets(collapsed: Path) -> list[tuple[str, float]]:
    """Share of samples per bucket; each stack goes to the first bucket one of its frames matches."""
    counts: Counter[str] = Counter()
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        bucket = next((name for name, keys in BUCKETS if any(k in stack for k in keys)), "event loop, other")
        counts[bucket] += int(samples)
    total = sum(counts.values())
    return [(name, counts[name] / total) for name in [b for b, _ in BUCKETS] + ["event loop, other"]]


def short_frame(frame: str) -> str:
    """`tag_article (/work/main/streams/tagging.py:71)` → `tag_article (streams/tagging.py)`."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    path = path.split("site-packages/")[-1].replace(str(common.REPO) + "/", "")
    return f"{name} ({path.split('lib/python3.11/')[-1]})"


def package(frame: str) -> str:
    path = frame.split(" (", 1)[1].rstrip(")")
    return path.split("/")[0] if "/" in path else path


# -- main -----------------------------------------------------------------------------------------


def prepare(args: argparse.Namespace, redis_url: str, workdir: Path) -> Setup:
    env = common.use_stack(args.profile)
    bootstrap = env["NEWSMON_KAFKA_BOOTSTRAP"]
    lines = common.corpus_lines(args.articles)
    mean = sum(len(line) for line in lines) / len(lines)
    topic = common.create_topic(bootstrap, 8)
    started = time.perf_counter()
    common.fill_topic(bootstrap, topic, lines)
    print(
        f"loaded {len(lines):,} articles ({mean:,.0f} B mean) into {topic} in {time.perf_counter() - started:.0f}s"
    )
    watchlist = common.write_watchlist(workdir / "watchlist.yaml", {"rules": RULES, "spikes": [SPIKE]})
    return Setup(bootstrap, topic, len(lines), mean, redis_url, workdir, watchlist)


def run_all(args: argparse.Namespace, setup: Setup) -> list[Result]:
    results: list[Result] = []
    for round_ in range(args.repeat):
        print(f"round {round_ + 1}/{args.repeat} ({common.load()})", flush=True)
        runs: list[Callable[[], Result]] = [lambda: aiokafka_loop(setup), lambda: kafka_python_loop(setup)]
        runs.append(lambda: kafka_python_loop(setup, check_crcs=False))
        runs.append(lambda: aiokafka_tag_loop(setup))
        if args.baseline:
            runs.append(lambda: newsmon_run(setup, streams_from=args.baseline))
        runs.append(lambda: newsmon_run(setup))
        if args.patches:
            runs.append(lambda: newsmon_run(setup, patches=args.patches))
        if not args.no_peer:
            runs.append(lambda: peer_run(setup))
        for run in runs:
            result = run()
            print(f"  {result.name:<40} {result.rate:>9,.0f} articles/s  ({common.load()})", flush=True)
            results.append(result)
    if args.py_spy:
        results.append(newsmon_run(setup, spy=args.py_spy))
    if args.py_spy and args.patches:
        results.append(newsmon_run(setup, patches=args.patches, spy=args.py_spy + "-patched"))
    return results


def report(setup: Setup, results: list[Result], spy: str) -> None:
    by_name: dict[str, list[Result]] = {}
    for result in results:
        by_name.setdefault(result.name, []).append(result)
    rates = {name: common.median([r.rate for r in runs]) for name, runs in by_name.items()}
    cpus = {name: common.median([r.cpu_us for r in runs]) for name, runs in by_name.items()}
    rows = [
        (name, len(by_name[name]), rate, rate * setup.mean_bytes / 1e6, cpus[name])
        for name, rate in rates.items()
    ]
    print(f"\n{setup.articles:,} articles, {setup.mean_bytes:,.0f} B mean, 8 partitions; {common.load()}")
    print(common.table(["run", "n", "articles/s (median)", "MB/s", "CPU µs/article"], rows))
    ratio_rows = []
    for name in (n for n in rates if n.startswith("newsmon") and "py-spy" not in n):
        for base in (b for b in rates if not b.startswith("newsmon") or (b == NEWSMON and name != NEWSMON)):
            ratio_rows.append((f"{name} / {base}", rates[name] / rates[base], cpus[base] / cpus[name]))
    print(common.table(["ratio", "throughput", "CPU efficiency (inverse CPU/article)"], ratio_rows))
    if spy:
        print_hotspots(Path(spy + ".txt"))
    if spy and Path(spy + "-patched.txt").exists():
        print_hotspots(Path(spy + "-patched.txt"))


def print_hotspots(collapsed: Path) -> None:
    own, inclusive = hotspots(collapsed)
    print(f"\npy-spy ({collapsed}): samples by bucket (first match along the stack)")
    print(common.table(["bucket", "share"], [(b, f"{s:.1%}") for b, s in buckets(collapsed)]))
    print(f"\npy-spy ({collapsed}): own time by package (where the CPU is actually spent)")
    print(common.table(["package", "own share"], [(f, f"{s:.1%}") for f, s in own]))
    print("\nnewsmon and framework functions by inclusive time (callees included)")
    print(common.table(["function", "inclusive share"], [(f, f"{s:.1%}") for f, s in inclusive]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=common.CORPUS_COUNT)
    parser.add_argument("--profile", default="test", help="ops/local/stack.py profile whose Kafka to use")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every run; medians reported")
    parser.add_argument("--py-spy", default="", help="also profile one worker run; output path prefix")
    parser.add_argument("--patches", default="", help="also run a worker with these common.PATCHES")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument(
        "--baseline",
        default="",
        help="also run a worker with the `streams` package in this directory (before)",
    )
    parser.add_argument("--hotspots", default="", help="only print the hotspots of an earlier --py-spy file")
    args = parser.parse_args()
    if args.hotspots:
        print_hotspots(Path(args.hotspots))
        return
    with common.private_redis() as redis_url, tempfile.TemporaryDirectory(prefix="newsmon-bench-") as tmp:
        setup = prepare(args, redis_url, Path(tmp))
        try:
            report(setup, run_all(args, setup), args.py_spy)
        finally:
            common.delete_topics(setup.bootstrap, [setup.topic])


if __name__ == "__main__":
    main()
