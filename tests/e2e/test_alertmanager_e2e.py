"""The real worker → the stack's Alertmanager pair → a webhook receiver run here: the sample replay's rule alerts, routed and grouped.

The pair runs the example config (ops/alertmanager/alertmanager.yml) with every webhook pointed at this
test's receiver and group_wait/group_interval cut to 1s; the worker posts to both peers through an
``alertmanager_api`` receiver. One rule uses ``in: title``, so its count is the sample's
``articles_with_entity_in_title`` (true by construction).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.model.settings import Settings
from tests.e2e.harness import (
    RULE,
    SAMPLE,
    SPIKE,
    Pipeline,
    base_watchlist,
    lines_of,
    sample_articles,
    sample_expected,
)
from tests.e2e.test_pipeline import rule_hits

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "ops" / "alertmanager" / "alertmanager.yml"
BURST_CUT = datetime(2026, 11, 21, 12, 6, tzinfo=UTC)
TITLE_RULE = {"id": "raqqa_title", "expr": "raqqa", "in": "title", "severity": "warning"}
OURS = frozenset({"carter_raqqa", TITLE_RULE["id"]})  # the rules whose alerts this test counts


@dataclass
class Notifications:
    """Every webhook the Alertmanagers sent, as (receiver name from the URL path, body)."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def groups(self, alertnames: Collection[str] = OURS) -> dict[tuple[str, str, str], tuple[int, set[str]]]:
        """(receiver, alertname, entity) of each group of `alertnames` → the most alerts one notification
        counted (``max_alerts`` cuts the list, ``truncatedAlerts`` says by how many) and the article ids
        named. Other groups are left out: the stack's Alertmanager pair is shared by the whole test run,
        and alerts that earlier tests posted may still be firing there."""
        with self.lock:
            received = list(self.received)
        groups: dict[tuple[str, str, str], tuple[int, set[str]]] = {}
        for name, body in received:
            labels = body["groupLabels"]
            if labels.get("alertname") not in alertnames:
                continue
            key = (name, labels.get("alertname", ""), labels.get("entity", ""))
            most, ids = groups.get(key, (0, set()))
            ids.update(a["labels"]["article_id"] for a in body["alerts"])
            groups[key] = (max(most, len(body["alerts"]) + body.get("truncatedAlerts", 0)), ids)
        return groups


@pytest.fixture
def notifications() -> Iterator[tuple[Notifications, int]]:
    seen = Notifications()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with seen.lock:
                seen.received.append((self.path.strip("/"), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield seen, server.server_address[1]
    server.shutdown()
    server.server_close()


def routed_config(port: int) -> str:
    config = yaml.safe_load(EXAMPLE.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"http://127.0.0.1:{port}/{receiver['name']}"

    def fast(route: dict[str, Any]) -> None:
        route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        for child in route.get("routes", []):
            fast(child)

    fast(config["route"])
    return yaml.safe_dump(config, sort_keys=False)


@pytest.fixture
def pair(stack_dir: Path, notifications: tuple[Notifications, int]) -> Iterator[list[str]]:
    """Both peers on the routed config; the stack's config is put back afterwards."""
    urls = [url for url in os.environ.get("NEWSMON_ALERTMANAGER_URLS", "").split(",") if url]
    if len(urls) != 2:
        pytest.fail("NEWSMON_ALERTMANAGER_URLS must name the stack's two Alertmanagers (stack.py run)")
    config = stack_dir / "data" / "alertmanager.yml"
    original = config.read_text()
    config.write_text(routed_config(notifications[1]))
    reload(urls)
    yield urls
    config.write_text(original)
    reload(urls)


def reload(urls: list[str]) -> None:
    for url in urls:
        with urllib.request.urlopen(
            urllib.request.Request(f"{url}/-/reload", method="POST"), timeout=10
        ) as r:
            assert r.status == 200


@pytest.fixture
def am_pipeline(
    stack_settings: Settings, stack_dir: Path, tmp_path: Path, pair: list[str]
) -> Iterator[Pipeline]:
    watchlist = base_watchlist({"rules": [RULE, TITLE_RULE], "spikes": []})
    watchlist["webhooks"] = {
        "am": {"format": "alertmanager_api", "urls": pair, "rule_ttl": "30m", "max_attempts": 20,
               "backoff_initial": "200ms", "backoff_max": "2s", "rate_limit_per_s": 500, "timeout": "5s"},
    }  # fmt: skip
    deployment = Pipeline(stack_settings, tmp_path, stack_dir, watchlist)
    yield deployment
    deployment.close()


def test_the_replays_rule_alerts_reach_the_receiver_grouped_as_routed(
    am_pipeline: Pipeline, notifications: tuple[Notifications, int], pair: list[str]
) -> None:
    seen, _ = notifications
    expected = sample_expected()
    carter_raqqa = rule_hits(expected)
    in_title = expected["articles_with_entity_in_title"]["raqqa"]
    assert (len(carter_raqqa), in_title) == (17, 107)
    am_pipeline.start_worker()
    am_pipeline.produce("replay", str(SAMPLE / "articles.jsonl"), "--no-progress", "--metrics-port", "0")
    total = len(sample_articles())
    am_pipeline.wait(lambda: am_pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}) >= total, 240,
                     "all sample articles tagged")  # fmt: skip

    # The in: title rule matched exactly the articles that name raqqa in their title.
    tagged = am_pipeline.read_topic(am_pipeline.settings.topic_tagged, total)
    assert sum("raqqa_title" in json.loads(m.value)["rules"] for m in tagged) == in_title

    # Every alert reached both Alertmanagers.
    targets = [f"am@{url.removeprefix('http://')}" for url in pair]
    alerts = len(carter_raqqa) + in_title
    for target in targets:
        labels = {"receiver": target, "outcome": "delivered"}
        am_pipeline.wait(lambda labels=labels: am_pipeline.metric("newsmon_webhook_deliveries_total", labels) >= alerts,
                         120, f"{alerts} alerts posted to {target}")  # fmt: skip
        assert (
            am_pipeline.metric("newsmon_webhook_deliveries_total", {"receiver": target, "outcome": "failed"})
            == 0
        )

    # Routed by the example config: critical → urgent; entity raqqa → the Iraq/Syria desk; grouped by
    # alertname and entity (a rule alert's entity is its subject: carter for "carter AND raqqa").
    def counted() -> dict[tuple[str, str, str], int]:
        return {key: most for key, (most, _) in seen.groups().items()}

    want = {
        ("newsmon-news-urgent", "carter_raqqa", "carter"): len(carter_raqqa),
        ("newsmon-desk-iraq-syria", "raqqa_title", "raqqa"): in_title,
    }
    try:
        am_pipeline.wait(lambda: counted() == want, 90, "every alert notified in its group")
    finally:
        print("groups (receiver, alertname, entity) -> alerts counted:", counted())
    groups = seen.groups()
    assert groups[("newsmon-news-urgent", "carter_raqqa", "carter")][1] == carter_raqqa
    # The example config's max_alerts: 50 cuts the desk's lists (truncatedAlerts counts the rest);
    # every article they name mentions raqqa.
    named = groups[("newsmon-desk-iraq-syria", "raqqa_title", "raqqa")][1]
    assert 50 <= len(named) <= in_title
    assert named <= {aid for aid, mentions in expected["articles"].items() if "raqqa" in mentions}
    assert max(len(body["alerts"]) for _, body in seen.received) == 50


@dataclass
class FakeAlertmanager:
    """An Alertmanager API stand-in: every POST /api/v2/alerts body, with its wall arrival time."""

    posts: list[tuple[float, list[dict[str, Any]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spike_posts(self) -> list[tuple[float, dict[str, Any]]]:
        with self.lock:
            return [
                (at, a) for at, body in self.posts for a in body if a["labels"]["newsmon_kind"] == "spike"
            ]


@pytest.fixture
def fake_alertmanager() -> Iterator[tuple[FakeAlertmanager, str]]:
    seen = FakeAlertmanager()

    class Api(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with seen.lock:
                seen.posts.append((time.time(), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield seen, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_firing_spike_is_re_sent_across_a_worker_restart_until_its_resolution(
    stack_settings: Settings, stack_dir: Path, tmp_path: Path, fake_alertmanager: tuple[FakeAlertmanager, str]
) -> None:
    seen, url = fake_alertmanager
    watchlist = base_watchlist({"rules": [], "spikes": [{**SPIKE, "webhooks": ["am"]}]})
    watchlist["webhooks"] = {"am": {"format": "alertmanager_api", "urls": [url], "resend_interval": "1s"}}
    pipeline = Pipeline(stack_settings, tmp_path, stack_dir, watchlist)
    articles = sample_articles()
    # Up to 12:06 on the 21st: the planted burst has fired (12:02) and nothing resolves it yet.
    before = [a for a in articles if datetime.fromisoformat(a["published_at"]) < BURST_CUT]
    after = articles[len(before) :]
    try:
        pipeline.start_worker()
        pipeline.produce("replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of(before))
        pipeline.wait(lambda: len(seen.spike_posts()) >= 3, 240, "the firing spike posted and re-sent twice")
        firing = [a for _, a in seen.spike_posts()]
        assert {a["labels"]["entity"] for a in firing} == {"raqqa"} and len(
            {json.dumps(a["labels"]) for a in firing}
        ) == 1
        assert all(a["endsAt"] > a["startsAt"] for a in firing)

        pipeline.stop_worker()
        stopped = len(seen.spike_posts())
        time.sleep(3)
        assert len(seen.spike_posts()) == stopped  # nobody re-sends while no worker runs
        pipeline.start_worker("w2")
        pipeline.wait(lambda: len(seen.spike_posts()) >= stopped + 2, 60, "re-sends by the restarted worker")

        pipeline.produce("replay", "-", "--no-progress", "--metrics-port", "0", stdin=lines_of(after))
        pipeline.wait(
            lambda: seen.spike_posts()[-1][1]["endsAt"] == "2026-11-21T12:15:00Z", 240, "the resolution"
        )
        resolved = len(seen.spike_posts())
        time.sleep(3)
        assert len(seen.spike_posts()) == resolved  # resolved: no more re-sends
        gaps = [
            b - a
            for (a, _), (b, _) in zip(
                seen.spike_posts()[:stopped], seen.spike_posts()[1:stopped], strict=False
            )
        ]
        print(f"re-send gaps (s): {[round(g, 2) for g in gaps]}; posts: {resolved}")
    finally:
        pipeline.close()
