"""Scale-out benchmark: 1, 2 and 4 workers on an 8-partition topic, same articles, same counts.

Run on a stack (`make bench` runs every tests/bench/*.py under the test profile), or by hand:

    python3 ops/local/stack.py --profile chaos up
    eval "$(python3 ops/local/stack.py --profile chaos env)"
    .venv/bin/python tests/bench/scaleout.py [--copies 10] [--workers 1 2 4]

The sample (10,000 articles) is published `--copies` times under fresh ids onto the articles topic
of a private deployment; then the workers are started together. The clock runs from the first
article counted to the last (so it includes the group's initial rebalance, not the producer). Prints articles/s per worker
count and fails when the 1440-minute window differs between worker counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kafka import KafkaProducer  # noqa: E402

from streams.model.settings import Settings  # noqa: E402
from tests.e2e.harness import SAMPLE, Pipeline, base_watchlist  # noqa: E402
from tests.reliability.faults import seen_count  # noqa: E402


def articles(copies: int) -> list[tuple[bytes, bytes]]:
    lines = (SAMPLE / "articles.jsonl").read_bytes().splitlines()
    out = []
    for copy in range(copies):
        for line in lines:
            article = json.loads(line)
            article["id"] = f"{article['id']}-c{copy}"
            out.append((article["id"].encode(), json.dumps(article, ensure_ascii=False).encode()))
    return out


def first_count_time(pipeline: Pipeline, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while seen_count(pipeline) == 0:
        if time.monotonic() > deadline:
            raise AssertionError("no article counted")
        time.sleep(0.05)
    return time.monotonic()


def run(workers: int, messages: list[tuple[bytes, bytes]], stack_dir: Path) -> tuple[float, dict[str, int]]:
    """Pre-publish everything, then start the workers together: the clock runs from the first
    article counted to the last, so the producer is not measured (on small machines it competes)."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as tmp:
        pipeline = Pipeline(settings, Path(tmp), stack_dir, base_watchlist())
        try:
            producer = KafkaProducer(bootstrap_servers=pipeline.settings.kafka_bootstrap, acks="all",
                                     linger_ms=20, batch_size=256 * 1024, compression_type="gzip")  # fmt: skip
            for key, value in messages:
                producer.send(pipeline.settings.topic_articles, key=key, value=value)
            producer.flush()
            producer.close()
            starters = [
                threading.Thread(target=pipeline.start_worker, args=(f"w{index + 1}", 120))
                for index in range(workers)
            ]
            for thread in starters:
                thread.start()
            began = first_count_time(pipeline)
            pipeline.wait(lambda: seen_count(pipeline) >= len(messages), 600, "every article counted")
            elapsed = time.monotonic() - began
            for thread in starters:
                thread.join()
            time.sleep(4)  # partition idle (3 s): the clock settles on the newest minute
            window = pipeline.window(1440)
            tagged = [
                int(pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}, worker=name))
                for name in sorted(pipeline.workers)
            ]
            print(f"  workers={workers}: counted in {elapsed:.1f}s, tagged per worker {tagged}", flush=True)
            return elapsed, window
        finally:
            for name in list(pipeline.workers):
                pipeline.stop_worker(name, kill=True)
            pipeline.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=10,
        help="times the 10,000-article sample is published (fewer finish before the group rebalances)",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    if not os.environ.get("NEWSMON_STACK_PROFILE"):
        print('run on a stack: eval "$(python3 ops/local/stack.py --profile chaos env)"', file=sys.stderr)
        return 2
    stack_dir = Path(os.environ.get("NEWSMON_STACK_DIR", ROOT / ".run" / "test"))
    messages = articles(args.copies)
    print(f"scale-out: {len(messages)} articles, 8 partitions, {os.cpu_count()} CPUs", flush=True)
    results = {}
    for workers in args.workers:
        results[workers] = run(workers, messages, stack_dir)
    print(f"{'workers':>8} {'seconds':>8} {'articles/s':>11} {'speed-up':>9}")
    base = results[args.workers[0]][0]
    for workers, (elapsed, _) in results.items():
        print(f"{workers:>8} {elapsed:>8.1f} {len(messages) / elapsed:>11.0f} {base / elapsed:>8.2f}x")
    windows = {workers: window for workers, (_, window) in results.items()}
    first = windows[args.workers[0]]
    if any(window != first for window in windows.values()):
        print("FAIL: the 1440-minute window differs between worker counts", windows, file=sys.stderr)
        return 1
    print(f"identical 1440-minute windows for {list(windows)} workers: {sum(first.values())} mentions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
