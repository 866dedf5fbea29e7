"""`python -m producers` end to end on stdout: no servers needed."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[3]
SEED_DIR = ROOT / "ops" / "sample" / "seed"  # a copy of ../shared/seed, so a clone is self-contained
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def producers(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "producers", *args, *([] if args[0] == "sample" else ["--metrics-port", "0"])],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=ENV,
        timeout=60,
    )


def test_files_stdout_pipes_into_streams_tag() -> None:
    files = producers("files", str(SEED_DIR), "--stdout")
    assert files.returncode == 0, files.stderr
    [line] = files.stdout.splitlines()
    assert orjson.loads(line)["source"] == "seed"
    tag = subprocess.run(
        [sys.executable, "-m", "streams.tag", "--watchlist", "ops/watchlist.yaml"],
        input=files.stdout,
        capture_output=True,
        cwd=ROOT,
        env=ENV,
        timeout=60,
    )
    assert tag.returncode == 0, tag.stderr
    mentions = orjson.loads(tag.stdout)["mentions"]
    assert {"carter", "ankara", "isis", "baghdad", "turkey"} <= set(mentions)


def test_replay_from_stdin_with_a_bad_line() -> None:
    lines = b'{"id": "a", "title": "one"}\n{broken\n{"id": "b", "title": "two"}\n'
    result = producers("replay", "-", "--stdout", "--no-progress", stdin=lines)
    assert result.returncode == 1  # something was rejected
    assert [orjson.loads(x)["id"] for x in result.stdout.splitlines()] == ["a", "b"]
    assert b"stdin:2" in result.stderr and b"read 3, published 2" in result.stderr


def test_rss_once_reports_unreachable_feed_and_exits_nonzero(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed.xml"
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"# test\n{url}\n")
    result = producers("rss", str(feeds), "--once", "--stdout", "--timeout", "2")
    assert result.returncode == 1
    assert url.encode() in result.stderr and result.stdout == b""


def test_sample_command_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = producers(
            "sample", "--out", str(tmp_path / name / "articles.jsonl"), "--count", "100", "--seed", "3"
        )
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "a" / "articles.jsonl").read_bytes() == (
        tmp_path / "b" / "articles.jsonl"
    ).read_bytes()
    assert (tmp_path / "a" / "expected.json").read_bytes() == (tmp_path / "b" / "expected.json").read_bytes()


def test_files_watch_publishes_new_files_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "producers", "files", str(tmp_path), "--watch", "--interval", "0.2"]
    process = subprocess.Popen(
        [*command, "--stdout", "--metrics-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=ENV,
    )
    try:
        time.sleep(1.5)
        (tmp_path / "new.txt").write_text("A new title\n\nA new body.")
        # SIGTERM only once the article is out: on a loaded machine start-up alone can take seconds.
        first = _line_within(process, 30.0)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert [orjson.loads(x)["title"] for x in [first, *out.splitlines()]] == ["A new title"]
    assert b"SIGTERM" in err and b"published 1" in err


def _line_within(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The first line the process writes to stdout, or fail after `timeout` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"no output within {timeout} s"
    return process.stdout.readline()
