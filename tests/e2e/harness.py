"""Runs the real pipeline for e2e tests: private topics and Redis prefix, a Faust worker, producers."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import yaml
from kafka import KafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from streams.cli.topics import ensure_topics
from streams.model.settings import Settings
from streams.store.keys import RedisKeys

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "ops" / "sample"
# The rule and spike detector the e2e and reliability tests deploy; the sample's planted raqqa
# burst fires the spike at 2026-11-21T12:02Z.
RULE = {
    "id": "carter_raqqa",
    "expr": "carter AND raqqa",
    "severity": "critical",
    "description": "Carter and Raqqa",
}
SPIKE = {
    "id": "raqqa_burst", "entities": ["raqqa"], "window": "10m", "baseline": "1h", "min_count": 30,
    "ratio": 4, "min_sources": 3, "warmup": "1h", "cooldown": "3h", "severity": "warning",
}  # fmt: skip
SECRET = "whsec_" + "ZTJlLXRlc3Qtc2VjcmV0LWtleS0xMjM0NTY3OA=="  # base64 of a fixed test key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample_articles() -> list[dict[str, Any]]:
    with open(SAMPLE / "articles.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def sample_expected() -> dict[str, Any]:
    return json.loads((SAMPLE / "expected.json").read_text(encoding="utf-8"))


def expected_window(
    per_minute: Mapping[str, Mapping[str, int]], clock_minute: int, window: int
) -> dict[str, int]:
    """Mentions per entity in (clock - window, clock] from expected.json's per-minute counts."""
    counts: dict[str, int] = {}
    for entity, minutes in per_minute.items():
        total = 0
        for stamp, n in minutes.items():
            minute = int(datetime.strptime(stamp, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC).timestamp()) // 60
            if clock_minute - window < minute <= clock_minute:
                total += n
        if total:
            counts[entity] = total
    return counts


def scrape_metric(port: int, name: str, labels: Mapping[str, str] | None = None) -> float:
    """A sample from the /metrics page on a local port (0 when absent), labels matched as a set."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    wanted = dict(labels or {})
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == wanted:
                return float(sample.value)
    return 0.0


class Pipeline:
    """One isolated newsmon deployment on the shared test stack."""

    def __init__(
        self, settings: Settings, workdir: Path, stack_dir: Path, watchlist: Mapping[str, Any]
    ) -> None:
        tag = uuid.uuid4().hex[:10]
        self.tag = tag
        self.workdir = workdir
        self.stack_dir = stack_dir
        self.watchlist_path = workdir / "watchlist.yaml"
        self.watchlist_path.write_text(yaml.safe_dump(dict(watchlist), allow_unicode=True), encoding="utf-8")
        self.env = {
            **os.environ,
            "NEWSMON_APP_ID": f"e2e-{tag}",
            "NEWSMON_TOPIC_ARTICLES": f"e2e.{tag}.articles",
            "NEWSMON_TOPIC_TAGGED": f"e2e.{tag}.tagged",
            "NEWSMON_TOPIC_ALERTS": f"e2e.{tag}.alerts",
            "NEWSMON_TOPIC_DEADLETTER": f"e2e.{tag}.deadletter",
            "NEWSMON_REDIS_PREFIX": f"e2e{tag}:",
            "NEWSMON_WATCHLIST": str(self.watchlist_path),
            "NEWSMON_E2E_WEBHOOK_SECRET": SECRET,
            "NEWSMON_PARTITION_IDLE_SECONDS": "3",
            "PYTHONPATH": str(ROOT),
        }
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            **{k.removeprefix("NEWSMON_").lower(): v for k, v in self.env.items() if k.startswith("NEWSMON_")
               and k.removeprefix("NEWSMON_").lower() in Settings.model_fields},
        )  # fmt: skip
        ensure_topics(self.settings)
        self.redis = redis.Redis.from_url(self.settings.redis_url, decode_responses=True)
        self.workers: dict[str, tuple[subprocess.Popen[bytes], int, Path]] = {}

    # -- processes ---------------------------------------------------------------------------------

    def start_worker(self, name: str = "w1", timeout: float = 60) -> None:
        port = free_port()
        log = self.workdir / f"worker-{name}.log"
        cmd = [
            sys.executable,
            "-m",
            "faust",
            "-A",
            "streams.app",
            "worker",
            "-l",
            "info",
            "--web-port",
            str(port),
        ]
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers[name] = (proc, port, log)
        target = self.stack_dir / "targets" / f"e2e-{self.tag}-{name}.json"
        target.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"e2e": self.tag}}]))
        self.wait(
            lambda: b"Worker ready" in log.read_bytes() or proc.poll() is not None,
            timeout,
            f"worker {name} ready",
        )
        assert proc.poll() is None, log.read_text(errors="replace")[-4000:]

    def stop_worker(self, name: str = "w1", kill: bool = False) -> None:
        proc, _, _ = self.workers.pop(name)
        (self.stack_dir / "targets" / f"e2e-{self.tag}-{name}.json").unlink(missing_ok=True)
        with contextlib.suppress(ProcessLookupError):  # already exited (e.g. killed by the test)
            os.killpg(proc.pid, 9 if kill else 15)
        proc.wait(60)

    def produce(
        self, *args: str, stdin: bytes | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = [sys.executable, "-m", "producers", "--log-level", "WARNING", *args]
        result = subprocess.run(
            cmd, env=self.env, cwd=ROOT, input=stdin, capture_output=True, timeout=timeout
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
        return result

    def close(self) -> None:
        for name in list(self.workers):
            self.stop_worker(name)
        keys = list(self.redis.scan_iter(match=self.settings.redis_prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            self.redis.delete(*keys[start : start + 1000])
        self.redis.close()

    # -- observation -------------------------------------------------------------------------------

    @staticmethod
    def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def metric(self, name: str, labels: Mapping[str, str] | None = None, worker: str = "w1") -> float:
        """A sample from the worker's /metrics (0 when absent), labels matched as a set."""
        _, port, _ = self.workers[worker]
        return scrape_metric(port, name, labels)

    def window(self, minutes: int) -> dict[str, int]:
        return {
            k: int(v)
            for k, v in self.redis.hgetall(RedisKeys(self.settings.redis_prefix).window(minutes)).items()
        }

    def clock_minute(self) -> int:
        return int(self.redis.get(f"{self.settings.redis_prefix}clock") or -1)

    def read_topic(self, topic: str, expected: int | None = None, idle_ms: int = 3000) -> list[Any]:
        consumer = KafkaConsumer(
            topic, bootstrap_servers=self.settings.kafka_bootstrap, auto_offset_reset="earliest",
            consumer_timeout_ms=idle_ms, group_id=None, enable_auto_commit=False,
        )  # fmt: skip
        messages = []
        for message in consumer:
            messages.append(message)
            if expected is not None and len(messages) >= expected:
                break
        consumer.close()
        return messages


def base_watchlist(
    extra: Mapping[str, Any] | None = None,
    receiver_url: str | None = None,
    *,
    receiver: str = "e2e",
    secret_env: str = "NEWSMON_E2E_WEBHOOK_SECRET",
    rate_limit_per_s: float = 200,
) -> dict[str, Any]:
    """ops/watchlist.yaml plus `extra` sections, and one fast-retrying receiver when a URL is given."""
    data = yaml.safe_load((ROOT / "ops" / "watchlist.yaml").read_text(encoding="utf-8"))
    data.update(extra or {})
    if receiver_url is not None:
        data["webhooks"] = {
            receiver: {
                "url": receiver_url, "secret_env": secret_env, "max_attempts": 40, "backoff_initial": "200ms",
                "backoff_max": "4s", "rate_limit_per_s": rate_limit_per_s, "timeout": "2s",
            }
        }  # fmt: skip
    return data


def lines_of(articles: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(json.dumps(a, ensure_ascii=False).encode() + b"\n" for a in articles)
