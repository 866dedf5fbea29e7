"""Bad input on the articles topic, written by a raw client (kcat), between good articles.

Every bad message either goes to the dead-letter topic with its exact reason, or is processed as
docs/contract.md says (ingest time for unusable dates, NUL/HTML as token separators, ids as the dedupe key);
the good articles around them are all counted exactly.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from tests.e2e.harness import ROOT, SAMPLE, Pipeline, base_watchlist, sample_expected
from tests.reliability.faults import assert_no_crash, minute_of_iso, seen_count

pytestmark = pytest.mark.reliability
GOOD = 600  # sample lines around the bad ones
MIB = 1024 * 1024
Deploy = Callable[..., Pipeline]


@dataclass(frozen=True)
class Case:
    key: str
    value: bytes | None
    reason: str | None = None  # exact dead-letter reason; None: processed
    reason_prefix: str | None = None  # when the detail comes from a parser (orjson) and may vary
    mentions: dict[str, int] | None = None  # processed: the mentions on the tagged topic
    ingest_time: bool = False  # processed with event time = ingest time


def js(**fields: Any) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()


def cases(first_article: dict[str, Any], first_mentions: dict[str, int]) -> list[Case]:
    now = datetime.now(UTC)
    utf8 = b'{"id":"bad-utf8","title":"\xff ISIS"}'
    bad_at = utf8.index(0xFF)
    soon = (now + timedelta(minutes=3)).replace(microsecond=0).isoformat()
    return [
        Case("bad-utf8", utf8, f"not_utf8: invalid UTF-8 at byte {bad_at}"),
        Case("bad-notjson", b"ISIS in Mosul, not JSON", reason_prefix="not_json: "),
        Case("bad-rawnul", b'{"id":"bad-rawnul","title":"ISIS\x00Mosul"}', reason_prefix="not_json: "),
        Case("bad-array", b'["ISIS", "Mosul"]', "not_object: expected a JSON object, got list"),
        Case("bad-string", b'"ISIS"', "not_object: expected a JSON object, got str"),
        Case("bad-number", b"42", "not_object: expected a JSON object, got int"),
        Case("bad-idtype", b'{"id": 42, "title": "ISIS"}', "invalid_article: id: Input should be a valid string"),
        Case("bad-titletype", js(id="bad-titletype", title=["ISIS"]),
             "invalid_article: title: Input should be a valid string"),
        Case("bad-dates-type", js(id="bad-dates-type", title="ISIS", published_at=20261121),
             "invalid_article: published_at: Input should be a valid string"),
        Case("bad-noid", js(title="ISIS in Mosul", body="x"), "invalid_article: missing required key 'id'"),
        Case("bad-blankid", js(id="  ", title="ISIS"), "invalid_article: article: Value error, id is empty"),
        Case("bad-empty", js(id="bad-empty", title="", body=" \n "),
             "invalid_article: article: Value error, title and body are both empty"),
        Case("bad-emptyvalue", b"", "empty: empty message value"),
        Case("bad-tombstone", None, "empty: empty message value"),
        # Processed as documented:
        Case("ok-future", js(id="ok-future", title="ISIS", published_at="2099-01-01T00:00:00Z"),
             mentions={"isis": 1}, ingest_time=True),
        Case("ok-baddate", js(id="ok-baddate", title="ISIS", published_at="last Tuesday"),
             mentions={"isis": 1}, ingest_time=True),
        Case("ok-nooffset", js(id="ok-nooffset", title="ISIS", published_at="2026-11-21T12:00:00"),
             mentions={"isis": 1}, ingest_time=True),
        Case("ok-soon", js(id="ok-soon", title="ISIS", published_at=soon), mentions={"isis": 1}),
        Case("ok-nul", js(id="ok-nul", title="داعش\u0000داعش", body="ISIS\u0000Mosul"),
             mentions={"isis": 3, "mosul": 1}),
        Case("ok-html", js(id="ok-html", title="<script>alert('ISIS')</script><b>Mosul</b>",
                           body='<img src=x onerror="fetch(\'//x/Raqqa\')">'),
             mentions={"isis": 1, "mosul": 1, "raqqa": 1}),
        Case("ok-many", js(id="ok-many", title="flood", body="ISIS Mosul " * 80_000),
             mentions={"isis": 80_000, "mosul": 80_000}),
        Case("ok-dupurl", js(**{**first_article, "id": "ok-dupurl"}), mentions=first_mentions),
        Case("ok-extra", js(id="ok-extra", title="Raqqa", unknown={"nested": [1, 2]}), mentions={"raqqa": 1}),
    ]  # fmt: skip


def kcat(
    bootstrap: str, topic: str, key: str, value: bytes, workdir: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """One message with the raw client: the file's bytes are the value, unchanged."""
    path = workdir / f"msg-{key}"
    path.write_bytes(value)
    cmd = ["kcat", "-b", bootstrap, "-t", topic, "-P", "-k", key, *extra, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_kcat_is_installed() -> None:
    assert shutil.which("kcat"), "kcat (Debian package kcat) is needed: apt-get install kcat"


def test_bad_input_dead_lettered_with_reasons_good_articles_exact(deploy: Deploy, tmp_path: Path) -> None:
    pipeline = deploy(base_watchlist())
    settings = pipeline.settings
    lines = (SAMPLE / "articles.jsonl").read_bytes().splitlines()[:GOOD]
    good = [json.loads(line) for line in lines]
    expected = sample_expected()["articles"]
    all_cases = cases(good[0], expected[good[0]["id"]])
    pipeline.start_worker()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    began = datetime.now(UTC)
    step = GOOD // len(all_cases)
    for index, case in enumerate(all_cases):
        for line, article in zip(
            lines[index * step : (index + 1) * step], good[index * step :], strict=False
        ):
            producer.send(settings.topic_articles, key=article["id"].encode(), value=line)
        producer.flush()
        if case.value is None or case.value == b"":
            producer.send(settings.topic_articles, key=case.key.encode(), value=case.value).get(30)
            continue
        sent = kcat(settings.kafka_bootstrap, settings.topic_articles, case.key, case.value, tmp_path,
                    "-X", "message.max.bytes=3000000")  # fmt: skip
        assert sent.returncode == 0, sent.stderr
    for line, article in zip(lines[len(all_cases) * step :], good[len(all_cases) * step :], strict=True):
        producer.send(settings.topic_articles, key=article["id"].encode(), value=line)
    producer.flush()
    producer.close()

    dead = [c for c in all_cases if c.mentions is None]
    processed = [c for c in all_cases if c.mentions is not None]
    pipeline.wait(
        lambda: seen_count(pipeline) >= GOOD + len(processed), 120, "all processable articles counted"
    )
    with contextlib.suppress(AssertionError):  # the comparison below says which ones are missing
        pipeline.wait(lambda: pipeline.metric("newsmon_articles_total", {"outcome": "deadletter"}) >= len(dead),
                      20, "dead letters")  # fmt: skip
    ended = datetime.now(UTC)
    worker, _, log = pipeline.workers["w1"]
    assert worker.poll() is None, log.read_text(errors="replace")[-3000:]

    # Dead letters: one per bad message, the exact reason, the original key and payload.
    records = {
        m.key.decode(): (m, json.loads(m.value)) for m in pipeline.read_topic(settings.topic_deadletter)
    }
    assert sorted(records) == sorted(c.key for c in dead), (
        f"missing: {sorted({c.key for c in dead} - set(records))}"
    )
    for case in dead:
        _, record = records[case.key]
        if case.reason is not None:
            assert record["reason"] == case.reason, case.key
        else:
            assert case.reason_prefix and record["reason"].startswith(case.reason_prefix), (case.key, record)
        assert record["topic"] == settings.topic_articles and record["offset"] >= 0
        raw = case.value or b""
        if case.key == "bad-utf8":
            assert record["payload_encoding"] == "base64"
        else:
            assert (record["payload"], record["payload_encoding"]) == (raw.decode(), "text")
    assert pipeline.metric("newsmon_articles_total", {"outcome": "deadletter"}) == len(dead)
    reasons: dict[str, int] = {}
    for case in dead:
        name = (case.reason or case.reason_prefix or "").split(":", 1)[0]
        reasons[name] = reasons.get(name, 0) + 1
    for reason, count in reasons.items():
        assert pipeline.metric("newsmon_articles_rejected_total", {"reason": reason}) == count, reason

    # Tagged: every good article with its known mentions, and the processed odd ones as documented.
    tagged = {m.key.decode(): json.loads(m.value) for m in pipeline.read_topic(settings.topic_tagged)}
    assert len(tagged) == GOOD + len(processed)
    for article in good:
        assert tagged[article["id"]]["mentions"] == expected[article["id"]]
        event = datetime.fromisoformat(tagged[article["id"]]["event_time"])
        assert event == datetime.fromisoformat(article["published_at"])
    for case in processed:
        record = tagged[case.key]
        assert record["mentions"] == case.mentions, case.key
        event = datetime.fromisoformat(record["event_time"])
        published = json.loads(case.value or b"{}").get("published_at")
        if case.ingest_time or published is None:  # no usable published_at: ingest time
            assert began - timedelta(seconds=1) <= event <= ended, (case.key, event)
        else:
            assert event == datetime.fromisoformat(published), case.key

    # Counts in Redis, minute by minute: exactly the good articles' mentions (plus the odd ones' minutes).
    per_minute: dict[int, dict[str, int]] = {}
    for article in good:
        bucket = per_minute.setdefault(minute_of_iso(article["published_at"]), {})
        for entity, count in expected[article["id"]].items():
            bucket[entity] = bucket.get(entity, 0) + count
    for case in processed:
        bucket = per_minute.setdefault(minute_of_iso(tagged[case.key]["event_time"]), {})
        for entity, count in (case.mentions or {}).items():
            bucket[entity] = bucket.get(entity, 0) + count
    per_minute = {minute: counts for minute, counts in per_minute.items() if counts}
    prefix = settings.redis_prefix
    stored = {
        int(key.rsplit(":", 1)[1]) for key in pipeline.redis.scan_iter(match=prefix + "m:*", count=1000)
    }
    assert stored == set(per_minute)
    for minute, counts in per_minute.items():
        got = {k: int(v) for k, v in pipeline.redis.hgetall(f"{prefix}m:{minute}").items()}
        assert got == counts, minute
    assert_no_crash(pipeline)


def raise_topic_limit(bootstrap: str, topic: str, limit: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(limit)})]
        )
    finally:
        admin.close()


def test_raw_oversize_message_goes_to_dead_letter(deploy: Deploy, tmp_path: Path) -> None:
    """1.5 MiB passes a broker whose topic limit was raised to 2 MiB; the worker's own limit
    (NEWSMON_MAX_ARTICLE_BYTES, 1 MiB) must send it to dead letter, and the articles around it flow.

    Fails today: the dead-letter record carries the whole payload, so it is larger than the worker
    producer's max_request_size (1 MiB); the send raises MessageSizeTooLargeError, the tag agent
    crashes and Faust restarts it past the batch: the dead letter is lost (docs/reliability.md)."""
    pipeline = deploy(base_watchlist())
    settings = pipeline.settings
    raise_topic_limit(settings.kafka_bootstrap, settings.topic_articles, 2 * MIB)
    big = js(id="bad-oversize", title="ISIS", body="x" * (3 * MIB // 2))
    before = js(id="ok-before", title="ISIS", published_at="2026-11-21T12:00:00Z")
    after = js(id="ok-after", title="Mosul", published_at="2026-11-21T12:01:00Z")
    pipeline.start_worker()
    for key, value in (("ok-before", before), ("bad-oversize", big), ("ok-after", after)):
        sent = kcat(settings.kafka_bootstrap, settings.topic_articles, key, value, tmp_path,
                    "-X", "message.max.bytes=3000000")  # fmt: skip
        assert sent.returncode == 0, sent.stderr
    pipeline.wait(lambda: seen_count(pipeline) >= 2, 60, "the two good articles counted")
    tagged = {m.key for m in pipeline.read_topic(settings.topic_tagged, idle_ms=2000)}
    assert tagged == {b"ok-before", b"ok-after"}
    records = [json.loads(m.value) for m in pipeline.read_topic(settings.topic_deadletter, idle_ms=5000)]
    assert_no_crash(pipeline)
    assert [r["reason"] for r in records] == [f"oversize: {len(big)} bytes exceeds the limit of {MIB}"]
    assert len(json.dumps(records[0])) < MIB  # the record itself must fit the dead-letter topic


def test_oversize_article_rejected_by_the_producer_and_by_the_broker(deploy: Deploy, tmp_path: Path) -> None:
    """10 MB: the replay CLI refuses it (exit 1, 'oversize'); a raw client gets the broker's
    MSG_SIZE_TOO_LARGE (message.max.bytes ~1 MiB); nothing reaches the topic but the good article."""
    pipeline = deploy(base_watchlist())
    settings = pipeline.settings
    huge = {
        "id": "huge",
        "title": "ISIS",
        "body": "x" * (10 * 1000 * 1000),
        "published_at": "2026-11-21T12:00:00Z",
    }
    fine = {"id": "fine", "title": "ISIS", "published_at": "2026-11-21T12:00:00Z"}
    path = tmp_path / "huge.jsonl"
    path.write_bytes(js(**huge) + b"\n" + js(**fine) + b"\n")
    cmd = [sys.executable, "-m", "producers", "replay", str(path), "--no-progress", "--metrics-port", "0"]
    result = subprocess.run(cmd, env=pipeline.env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "rejected (oversize)" in result.stderr and "read 2, published 1" in result.stderr

    raw = kcat(settings.kafka_bootstrap, settings.topic_articles, "huge-raw", js(**huge), tmp_path,
               "-X", "message.max.bytes=20000000")  # fmt: skip
    assert raw.returncode != 0
    assert "too large" in raw.stderr.lower() or "MSG_SIZE_TOO_LARGE" in raw.stderr, raw.stderr

    messages = pipeline.read_topic(settings.topic_articles, idle_ms=2000)
    assert [m.key for m in messages] == [b"fine"]
    time.sleep(0)  # nothing else to wait for: no worker was needed
