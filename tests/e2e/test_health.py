"""The worker's /livez, /readyz and systemd notifications, on the real stack, with the test-only fault
switch NEWSMON_FAULT_TAG_AGENT (crash: the tag agent's task ends; stall: it hangs, consumption stops)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.worker.drain import DRAIN_TIMED_OUT
from streams.worker.health_probe import PROBE_SECONDS
from tests.e2e.harness import Pipeline, sample_articles

pytestmark = pytest.mark.e2e

STALL = 5.0  # NEWSMON_WORKER_STALL_SECONDS in these tests
# The probe runs every PROBE_SECONDS and a check may straddle two runs: a stall is seen within
# STALL + 2 probes, a crash within 2 probes; the rest is slack for a loaded machine.
WITHIN = STALL + 2 * PROBE_SECONDS + 5.0


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    got = []
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            return got


def worker_with_fault(pipeline: Pipeline, fault: str, tmp_path: Path, notify: bool = True) -> int:
    pipeline.env.update(
        NEWSMON_FAULT_TAG_AGENT=fault, NEWSMON_WORKER_STALL_SECONDS=str(STALL), NEWSMON_WORKER_DRAIN_SECONDS="5",
    )  # fmt: skip
    if notify:
        pipeline.env.update(NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="1000000")
    pipeline.start_worker("w1")
    _, port, _ = pipeline.workers["w1"]
    pipeline.wait(lambda: get(port, "/readyz")[0] == 200, 30, "/readyz 200 (partitions assigned)")
    assert get(port, "/livez") == (200, "ok\n")
    return port


def produce_some(pipeline: Pipeline, n: int = 20) -> None:
    lines = "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in sample_articles()[:n]).encode()
    pipeline.produce("replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines)


def seconds_until_503(port: int) -> tuple[float, str]:
    began = time.monotonic()
    status, body = 0, "no answer yet"
    while time.monotonic() - began < WITHIN:
        try:
            status, body = get(port, "/livez")
        except TimeoutError:  # a loaded machine: a probe that is not answered counts as failed, ask again
            continue
        if status == 503:
            return time.monotonic() - began, body
        time.sleep(0.2)
    raise AssertionError(f"/livez still {status} {body!r} after {WITHIN:.0f}s")


def test_livez_fails_when_the_tag_agent_crashes_and_the_watchdog_stops(
    pipeline: Pipeline, tmp_path: Path, notify_socket: socket.socket
) -> None:
    port = worker_with_fault(pipeline, "crash", tmp_path)
    seen: list[str] = []
    pipeline.wait(lambda: seen.extend(received(notify_socket)) or seen.count("WATCHDOG=1") >= 2, 10,
                  "two WATCHDOG=1")  # fmt: skip
    produce_some(pipeline)
    took, body = seconds_until_503(port)
    assert body == "agent newsmon.tag died\n"
    time.sleep(1.5)  # a ping already sent by the time /livez answered
    received(notify_socket)
    time.sleep(3.0)  # three watchdog intervals
    assert received(notify_socket) == []
    assert get(port, "/readyz")[0] == 200  # Redis, Kafka and the assignment are fine: only liveness fails
    print(f"[health] crash: /livez 503 {took:.1f}s after the articles were produced")


def test_ready_then_watchdog_pings_on_the_notify_socket(
    pipeline: Pipeline, tmp_path: Path, notify_socket: socket.socket
) -> None:
    worker_with_fault(pipeline, "", tmp_path)
    seen: list[str] = []
    pipeline.wait(lambda: seen.extend(received(notify_socket)) or seen.count("WATCHDOG=1") >= 3, 10,
                  "three WATCHDOG=1")  # fmt: skip
    assert seen.count("READY=1") == 1
    assert seen.index("READY=1") < len(seen) - 1 and "STATUS=consuming" in seen


def test_livez_fails_when_consumption_stalls(pipeline: Pipeline, tmp_path: Path) -> None:
    port = worker_with_fault(pipeline, "stall", tmp_path, notify=False)
    produce_some(pipeline)
    took, body = seconds_until_503(port)
    assert body.startswith(f"no progress for {STALL:g}s with lag > 0: {pipeline.settings.topic_articles}/")
    assert get(port, "/readyz")[0] == 200
    # SIGTERM: the stuck batch never finishes, so the drain deadline (5 s here) ends the process.
    proc = pipeline.workers["w1"][0]
    began = time.monotonic()
    pipeline.stop_worker("w1")
    stopped = time.monotonic() - began
    assert (proc.returncode, stopped < 5 + 10) == (DRAIN_TIMED_OUT, True)
    print(f"[health] stall: /livez 503 {took:.1f}s after the articles were produced (limit {STALL:g}s); "
          f"SIGTERM -> exit {proc.returncode} after {stopped:.1f}s (drain limit 5s)")  # fmt: skip
