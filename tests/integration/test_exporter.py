"""The exporter on the real Redis: counts written by streams.store.counts, scraped over HTTP, exact values."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
import yaml
from prometheus_client import start_http_server
from prometheus_client.parser import text_string_to_metric_families

from streams.exporter.server import build_registry
from streams.model.settings import Settings
from streams.store.counts import RollingCounts, Tally
from tests.e2e.harness import ROOT, free_port

pytestmark = pytest.mark.integration
CLOCK = 29_000_000
WATCHLIST = {
    "entities": [
        {"id": "raqqa", "names": {"en": ["Raqqa"]}},
        {"id": "mosul", "names": {"en": ["Mosul"]}},
        {"id": "isis", "names": {"en": ["ISIS"]}},
    ],
    "spikes": [{"id": "burst", "entities": ["raqqa"], "window": "5m", "baseline": "10m", "min_count": 3}],
}


@pytest.fixture
async def prefix(stack_settings: Settings) -> AsyncIterator[str]:
    name = f"exp{uuid.uuid4().hex[:10]}:"
    yield name
    client = redis.Redis.from_url(stack_settings.redis_url)
    keys = list(client.scan_iter(match=name + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def settings_for(stack_settings: Settings, prefix: str, tmp_path: Path, redis_url: str = "") -> Settings:
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(WATCHLIST))
    return Settings(_env_file=None, redis_url=redis_url or stack_settings.redis_url, redis_prefix=prefix,  # type: ignore[call-arg]
                    watchlist=path)  # fmt: skip


async def fill(settings: Settings, prefix: str) -> None:
    """raqqa: 3 mentions in the baseline, 10 in the last 5 minutes from 3 sources; mosul: 1; isis: none."""
    client = aioredis.from_url(settings.redis_url)
    counter = RollingCounts(client, prefix=prefix, partitions=1)
    batch = [
        Tally("a1", CLOCK - 12, "s1", {"raqqa": 2}),
        Tally("a2", CLOCK - 6, "s1", {"raqqa": 1}),
        Tally("a3", CLOCK - 1, "s1", {"raqqa": 6}),
        Tally("a4", CLOCK, "s2", {"raqqa": 3, "mosul": 1}),
        Tally("a5", CLOCK, "s3", {"raqqa": 1}),
    ]
    assert (await counter.record(batch)).clock_minute == CLOCK
    await client.sadd(f"{prefix}spike:firing", "burst\traqqa")
    await client.aclose()


def serve_and_scrape(
    settings: Settings,
) -> tuple[bytes, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """One scrape of the exporter's registry served over HTTP, as Prometheus would do it."""
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=build_registry(settings, top_n=5))
    try:
        return scrape(port)
    finally:
        server.shutdown()
        thread.join(5)


def scrape(port: int) -> tuple[bytes, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body: bytes = response.read()
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    return body, values


async def test_scrape_reports_exact_windows_sources_top_spikes_and_clock(
    stack_settings: Settings, prefix: str, tmp_path: Path, promtool: str
) -> None:
    settings = settings_for(stack_settings, prefix, tmp_path)
    await fill(settings, prefix)
    body, got = serve_and_scrape(settings)
    expected_windows = {"1m": (4, 1, 2, 1), "5m": (10, 1, 3, 1), "1h": (13, 1, 3, 1), "24h": (13, 1, 3, 1)}
    for window, (raqqa, mosul, raqqa_sources, mosul_sources) in expected_windows.items():
        assert got[("newsmon_entity_mentions_window", (("entity", "raqqa"), ("window", window)))] == raqqa
        assert got[("newsmon_entity_mentions_window", (("entity", "mosul"), ("window", window)))] == mosul
        # isis has no mention in the longest window: not exported (series grow with activity)
        assert ("newsmon_entity_mentions_window", (("entity", "isis"), ("window", window))) not in got
        assert (
            got[("newsmon_entity_sources_window", (("entity", "raqqa"), ("window", window)))] == raqqa_sources
        )
        assert (
            got[("newsmon_entity_sources_window", (("entity", "mosul"), ("window", window)))] == mosul_sources
        )
    assert {k: v for k, v in got.items() if k[0] == "newsmon_top_entity_mentions"} == {
        ("newsmon_top_entity_mentions", (("entity", "raqqa"), ("rank", "1"))): 13,
        ("newsmon_top_entity_mentions", (("entity", "mosul"), ("rank", "2"))): 1,
    }
    assert got[("newsmon_stream_clock_seconds", ())] == CLOCK * 60
    assert got[("newsmon_spike_ratio", (("entity", "raqqa"), ("spike", "burst")))] == 5.0  # 10 / ((3+1)/2)
    assert got[("newsmon_spike_firing", (("entity", "raqqa"), ("spike", "burst")))] == 1
    assert (got[("newsmon_redis_up", ())], got[("newsmon_exporter_up", ())]) == (1, 1)
    lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert (lint.returncode, lint.stdout, lint.stderr) == (0, b"", b"")


def test_scrape_succeeds_with_redis_down(stack_settings: Settings, prefix: str, tmp_path: Path) -> None:
    settings = settings_for(stack_settings, prefix, tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    _, got = serve_and_scrape(settings)
    assert (got[("newsmon_redis_up", ())], got[("newsmon_exporter_up", ())]) == (0, 1)
    assert got[("newsmon_exporter_watchlist_entities", ())] == 3
    assert not [k for k in got if k[0] == "newsmon_entity_mentions_window"]


def test_the_command_serves_on_the_given_host_and_port(
    stack_settings: Settings, prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(stack_settings, prefix, tmp_path)
    port = free_port()
    env = {"NEWSMON_REDIS_URL": settings.redis_url, "NEWSMON_REDIS_PREFIX": prefix,
           "NEWSMON_WATCHLIST": str(settings.watchlist), "NEWSMON_EXPORTER_ALWAYS": "isis",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    cmd = [sys.executable, "-m", "streams.exporter", "--host", "127.0.0.1", "--port", str(port), "--top", "3"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _, got = scrape(port)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "exporter did not start"
                time.sleep(0.1)
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    assert got[("newsmon_redis_up", ())] == 1
    # quiet, but listed in NEWSMON_EXPORTER_ALWAYS: exported at 0
    assert got[("newsmon_entity_mentions_window", (("entity", "isis"), ("window", "1h")))] == 0
