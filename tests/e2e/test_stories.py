"""Stories on the real stack: the seed, 20 syndicated copies of it on 20 sources and 30 unrelated
articles give 31 stories on news.tagged; story windows count the seed's entities once while mentions
count every copy; `streams.tag --stories` gives the same partition; so do two workers and a worker
SIGKILLed mid-stream (its redelivered articles keep their stories)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from streams.model.settings import Settings
from streams.store.keys import RedisKeys
from tests.e2e.harness import ROOT, RULE, SPIKE, Pipeline, base_watchlist, lines_of
from tests.e2e.receiver import Receiver
from tests.reliability.faults import Replay, finish_replay, read_all, seen_count, start_replay, wait_counted

pytestmark = pytest.mark.e2e
INPUT = ROOT / "tests" / "fixtures" / "stories" / "e2e-input.jsonl"
ARTICLE_FIELDS = ("id", "url", "title", "body", "lang", "source", "published_at")
Partition = set[frozenset[str]]
# Twin detectors on Carter: 115 mentions from 21+ sites, but the seed's 21 copies are one story of the
# 4 naming him; min_count 5 stories is out of reach, 5 mentions is not.
TWIN = {"entities": ["carter"], "window": "10m", "baseline": "1h", "min_count": 5, "ratio": 2,
        "min_sources": 3, "warmup": "0s", "webhooks": []}  # fmt: skip
SPIKES = [SPIKE, {"id": "carter_mentions", **TWIN}, {"id": "carter_stories", "measure": "stories", **TWIN}]


def labelled() -> list[dict[str, str]]:
    return [json.loads(line) for line in INPUT.read_text(encoding="utf-8").splitlines()]


def partition(stories: Mapping[str, str]) -> Partition:
    """Article id -> story id, as the set of groups (story ids depend on arrival order; groups do not)."""
    groups: dict[str, set[str]] = defaultdict(set)
    for article_id, story in stories.items():
        groups[story].add(article_id)
    return {frozenset(group) for group in groups.values()}


def offline_tag(watchlist: Path, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """`python -m streams.tag --watchlist W --stories` over the input in order."""
    cmd = [sys.executable, "-m", "streams.tag", "--watchlist", str(watchlist), "--stories"]
    result = subprocess.run(cmd, input=lines_of(rows), cwd=ROOT, capture_output=True, timeout=120, check=True)
    return [json.loads(line) for line in result.stdout.splitlines()]


def expected_windows(lines: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """(mentions, distinct stories) per entity over the whole input (it is all in one minute)."""
    mentions: dict[str, int] = defaultdict(int)
    stories: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        for entity, count in line["mentions"].items():
            mentions[entity] += count
            stories[entity].add(line["story"])
    return dict(mentions), {entity: len(ids) for entity, ids in stories.items()}


def story_of_each(pipeline: Pipeline, articles: int) -> dict[str, str]:
    """news.tagged read to its end: each article's story (every message of a redelivered article
    must carry the same story)."""
    stories: dict[str, set[str]] = defaultdict(set)
    for message in read_all(pipeline.settings.kafka_bootstrap, pipeline.settings.topic_tagged):
        stories[message.key.decode()].add(json.loads(message.value)["story"])
    assert len(stories) == articles
    assert all(len(found) == 1 for found in stories.values()), {
        k: v for k, v in stories.items() if len(v) > 1
    }
    return {article_id: found.pop() for article_id, found in stories.items()}


def all_alerts(pipeline: Pipeline) -> list[dict[str, Any]]:
    messages = read_all(pipeline.settings.kafka_bootstrap, pipeline.settings.topic_alerts)
    return [json.loads(m.value) for m in messages]


def spike_alerts(pipeline: Pipeline) -> set[tuple[str, str]]:
    """(detector, entity) of the firing spike alerts on news.alerts so far."""
    alerts = all_alerts(pipeline)
    return {(a["rule_id"], a["entity"]) for a in alerts if a["kind"] == "spike" and a["status"] == "firing"}


def hash_of(pipeline: Pipeline, key: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in pipeline.redis.hgetall(key).items()}


@pytest.fixture
def deploy(
    stack_settings: Settings, stack_dir: Path, tmp_path: Path, receiver: Receiver
) -> Iterator[Callable[[], Pipeline]]:
    made: list[Pipeline] = []

    def make() -> Pipeline:
        workdir = tmp_path / f"p{len(made)}"
        workdir.mkdir()
        watchlist = base_watchlist({"rules": [RULE], "spikes": SPIKES}, receiver.url)
        pipeline = Pipeline(stack_settings, workdir, stack_dir, watchlist)
        # A killed worker's partitions move to the restarted one sooner (Faust's default is 15 s here).
        pipeline.env["NEWSMON_WORKER_SESSION_TIMEOUT_SECONDS"] = "6"
        pipeline.env["NEWSMON_WORKER_HEARTBEAT_SECONDS"] = "1"
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close()


def run_to_the_end(pipeline: Pipeline, rows: list[dict[str, str]]) -> None:
    """Wait until every article is counted and the stream clock reached the input's minute."""
    wait_counted(pipeline, len(rows))
    minute = int(datetime.fromisoformat(rows[0]["published_at"]).timestamp()) // 60
    pipeline.wait(
        lambda: pipeline.clock_minute() == minute, 60, "the stream clock to reach the input's minute"
    )


def check_run(pipeline: Pipeline, rows: list[dict[str, str]]) -> Partition:
    """The 31 stories of the labels and of `--stories`, and windows of stories and mentions."""
    stories = story_of_each(pipeline, len(rows))
    got = partition(stories)
    lines = offline_tag(pipeline.watchlist_path, rows)
    assert got == partition({line["id"]: line["story"] for line in lines})
    assert got == partition({row["id"]: row["story"] for row in rows})
    assert len(got) == 31
    mentions, story_counts = expected_windows(lines)
    keys = RedisKeys(pipeline.settings.redis_prefix)
    for window in (1, 1440):
        assert pipeline.window(window) == mentions
        assert hash_of(pipeline, keys.window_stories(window)) == story_counts
    return got


def test_one_worker_31_stories_windows_count_the_seed_once(
    deploy: Callable[[], Pipeline], receiver: Receiver
) -> None:
    rows = labelled()
    pipeline = deploy()
    pipeline.start_worker()
    pipeline.produce(
        "replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of(article(r) for r in rows)
    )
    run_to_the_end(pipeline, rows)
    check_run(pipeline, rows)
    # The seed's entities: every copy counts as mentions, the story once. Carter: 105 of his 115
    # mentions are in the seed's 21 copies, which are 1 of the 4 stories naming him; NATO: 21 of 22
    # mentions, 1 of 2 stories.
    stories = hash_of(pipeline, RedisKeys(pipeline.settings.redis_prefix).window_stories(60))
    mentions = pipeline.window(60)
    assert [(mentions[e], stories[e]) for e in ("carter", "nato")] == [(115, 4), (22, 2)]
    # The story-measured twin does not fire on the copies; the mentions-measured one does.
    pipeline.wait(lambda: bool(spike_alerts(pipeline)), 30, "the carter_mentions spike")
    assert spike_alerts(pipeline) == {("carter_mentions", "carter")}
    # The rule (per story by default): the 21 articles naming Carter and Raqqa are the seed's story, so
    # one alert id on news.alerts (once per copy, its evidence growing) and one webhook.
    pipeline.wait(lambda: bool(receiver.by_kind("rule")), 30, "the rule alert delivered")
    rule_alerts = [a for a in all_alerts(pipeline) if a["kind"] == "rule"]
    assert (len(rule_alerts), len({a["id"] for a in rule_alerts})) == (21, 1)
    copies = sorted(a["evidence"][0]["copies"] for a in rule_alerts)
    seed_story = story_of_each(pipeline, len(rows))[rows[0]["id"]]  # its first copy to arrive
    first = {(e["article_id"], e["story"]) for a in rule_alerts for e in a["evidence"]}
    assert (copies, first) == (list(range(1, 22)), {(seed_story, seed_story)})
    assert list(receiver.deliveries.values()).count(1) == len(receiver.deliveries)  # each webhook once


def test_two_workers_and_a_worker_killed_mid_stream_give_the_same_partition(
    deploy: Callable[[], Pipeline],
) -> None:
    rows = labelled()
    partitions = []
    # Two workers in one group share the partitions.
    pipeline = deploy()
    pipeline.start_worker("w1")
    pipeline.start_worker("w2")
    pipeline.produce(
        "replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of(article(r) for r in rows)
    )
    run_to_the_end(pipeline, rows)
    partitions.append(check_run(pipeline, rows))
    tagged = [
        pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}, worker=w) for w in ("w1", "w2")
    ]
    assert sum(tagged) == len(rows) and min(tagged) > 0, tagged

    # One worker SIGKILLed mid-stream, then restarted: what it had not committed is redelivered.
    pipeline = deploy()
    path = pipeline.workdir / "input.jsonl"
    pipeline.start_worker("w1")
    replay = start_replay(pipeline, replay_of_rows(path, rows), rate=6)
    wait_counted(pipeline, 15)
    pipeline.stop_worker("w1", kill=True)
    at_kill = seen_count(pipeline)
    assert at_kill < len(rows), "the kill must land mid-stream"
    pipeline.start_worker("w1")
    finish_replay(pipeline, replay)
    run_to_the_end(pipeline, rows)
    partitions.append(check_run(pipeline, rows))
    assert partitions[0] == partitions[1]


def replay_of_rows(path: Path, rows: list[dict[str, str]]) -> Replay:
    """The reliability harness's Replay of the labelled rows (start_replay reads its path)."""
    articles = [article(r) for r in rows]
    path.write_bytes(lines_of(articles))
    minute = int(datetime.fromisoformat(rows[0]["published_at"]).timestamp()) // 60
    return Replay(path, list(articles), {}, {}, minute)


def article(row: Mapping[str, str]) -> dict[str, str]:
    """The Article JSON of a labelled row (its label fields left out)."""
    return {field: row[field] for field in ARTICLE_FIELDS}
