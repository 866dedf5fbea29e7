"""newsmon → the stack's Alertmanager 0.25 HA pair → a webhook receiver run here, routed by the example config.

The example config (ops/alertmanager/alertmanager.yml) is loaded into both peers with its webhook URLs
pointed at this test's receiver and group_wait/group_interval cut to 1s. Every test uses its own
rule/spike ids and entities, so the groups of one test never mix with another's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from streams.model.alert import Alert, Evidence, Severity, Status, rule_alert_id, spike_alert_id
from streams.webhooks.alertmanager_api import ApiPolicy, ResendSchedule, api_body, api_targets, batch_id
from streams.webhooks.client import DeliveryResult, post_to_all
from streams.webhooks.receivers import Receiver
from tests.reliability.faults import stack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "ops" / "alertmanager" / "alertmanager.yml"
POLICY = ApiPolicy(resend_interval=60, rule_ttl=600)
QUIET = 5.0  # after the last expected notification: > peer timeout (2s) + group_interval (1s)
START = datetime(2016, 10, 22, 9, 0, tzinfo=UTC)  # replayed stream time


# --- the receiver and the pair's config ----------------------------------------------------------------


@dataclass
class Notifications:
    """Every webhook Alertmanager sent, by receiver name (the URL path)."""

    port: int = 0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, alertname: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (name, body) for name, body in self.received if body["groupLabels"].get("alertname") == alertname
        ]


@pytest.fixture
async def notifications() -> AsyncIterator[Notifications]:
    seen = Notifications()

    async def hook(request: web.Request) -> web.Response:
        seen.received.append((request.match_info["name"], await request.json()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/{name}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    seen.port = runner.addresses[0][1]
    yield seen
    await runner.cleanup()


def fast(route: dict[str, Any]) -> None:
    route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for child in route.get("routes", []):
        fast(child)


def routed_config(port: int) -> str:
    """The example config with every webhook at http://127.0.0.1:<port>/<receiver name>, fast groups."""
    config = yaml.safe_load(EXAMPLE.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"http://127.0.0.1:{port}/{receiver['name']}"
    fast(config["route"])
    return yaml.safe_dump(config, sort_keys=False)


@pytest.fixture(scope="session")
def am_urls() -> list[str]:
    urls = os.environ.get("NEWSMON_ALERTMANAGER_URLS", "")
    if not urls:
        pytest.fail("NEWSMON_ALERTMANAGER_URLS is not set: run under `stack.py --profile P run`")
    return urls.split(",")


@pytest.fixture(scope="session")
def amtool() -> str:
    path = os.environ.get("NEWSMON_AMTOOL", "")
    if not path or not Path(path).exists():
        pytest.fail(f"amtool not found ({path!r}): run `python3 ops/local/stack.py install`")
    return path


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        assert response.status == 200, f"GET {url}: {response.status}"
        return await response.json()


@pytest.fixture
async def pair(am_urls: list[str], notifications: Notifications) -> AsyncIterator[list[str]]:
    """Both peers running the test config (the stack keeps one config file for the pair)."""
    config = Path(os.environ["NEWSMON_STACK_DIR"]) / "data" / "alertmanager.yml"
    original = config.read_text()
    text = routed_config(notifications.port)
    config.write_text(text)
    async with aiohttp.ClientSession() as session:
        for url in am_urls:
            async with session.post(f"{url}/-/reload") as response:
                assert response.status == 200, await response.text()
            status = await get_json(session, f"{url}/api/v2/status")
            assert f"127.0.0.1:{notifications.port}" in status["config"]["original"]
        await eventually_async(lambda: pair_ready(session, am_urls), "both peers ready and joined")
    yield am_urls
    config.write_text(original)
    async with aiohttp.ClientSession() as session:
        for url in am_urls:
            async with session.post(f"{url}/-/reload"):
                pass


async def pair_ready(session: aiohttp.ClientSession, urls: list[str]) -> bool:
    """Every peer settled and seeing all peers (a restarted one rejoins within seconds)."""
    for url in urls:
        cluster = (await get_json(session, f"{url}/api/v2/status"))["cluster"]
        if cluster["status"] != "ready" or len(cluster["peers"]) != len(urls):
            return False
    return True


# --- alerts and posting --------------------------------------------------------------------------------


def unique(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def rule_alert(rule: str, article: str, entity: str, severity: Severity = "warning") -> Alert:
    evidence = Evidence(article_id=article, title=f"title of {article}", url=f"https://example.org/{article}",
                        source="alayam", published_at=None, matched_names=["داعش"])  # fmt: skip
    return Alert(id=rule_alert_id(rule, article), kind="rule", status="firing", rule_id=rule, entity=entity,
                 severity=severity, starts_at=START, evidence=[evidence])  # fmt: skip


def spike_alert(spike: str, entity: str, status: Status) -> Alert:
    return Alert(
        id=spike_alert_id(spike, entity, int(START.timestamp()), status), kind="spike", status=status,
        rule_id=spike, entity=entity, severity="warning", starts_at=START,
        ends_at=START + timedelta(minutes=20) if status == "resolved" else None,
        count=9, baseline=1.0, ratio=9.0, window="5m",
    )  # fmt: skip


def client_receiver(**retry: Any) -> Receiver:
    return Receiver(name="am", url="", format="alertmanager", secret="", backoff_initial=0.2, backoff_max=1.0,
                    timeout=2.0, **retry)  # fmt: skip


async def post(
    urls: list[str], alerts: list[Alert], policy: ApiPolicy = POLICY, **retry: Any
) -> list[DeliveryResult]:
    now = time.time()
    body = api_body(alerts, policy, datetime.fromtimestamp(now, UTC))
    async with aiohttp.ClientSession() as session:
        return await post_to_all(
            session, api_targets(client_receiver(**retry), urls), batch_id(alerts, now), body
        )


async def eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


async def eventually_async(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


def article_ids(body: dict[str, Any]) -> set[str]:
    return {alert["labels"]["article_id"] for alert in body["alerts"]}


def groups(seen: Notifications, *alertnames: str) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """(receiver, alertname, entity) → notification bodies, for these alertnames only."""
    found: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for name, body in seen.received:
        labels = body["groupLabels"]
        if labels.get("alertname") in alertnames:
            found.setdefault((name, labels["alertname"], labels["entity"]), []).append(body)
    return found


# --- the tests -----------------------------------------------------------------------------------------


async def test_rule_alerts_arrive_grouped_as_routed_once_from_the_pair(
    pair: list[str], notifications: Notifications
) -> None:
    warn, crit = unique("rule"), unique("crit")
    alerts = [
        *(rule_alert(warn, f"b{n}", "baghdad") for n in range(3)),  # → newsmon-news
        *(rule_alert(warn, f"m{n}", "mosul") for n in range(2)),  # → the desk route by entity
        rule_alert(crit, "c0", "baghdad", severity="critical"),  # → urgent by severity
    ]
    results = await post(pair, alerts)
    assert [r.outcome for r in results] == ["delivered", "delivered"]
    expected = {
        ("newsmon-news", warn, "baghdad"): {"b0", "b1", "b2"},
        ("newsmon-desk-iraq-syria", warn, "mosul"): {"m0", "m1"},
        ("newsmon-news-urgent", crit, "baghdad"): {"c0"},
    }
    await eventually(lambda: len(groups(notifications, warn, crit)) == 3, "three group notifications")
    await asyncio.sleep(QUIET)
    got = groups(notifications, warn, crit)
    # Alertmanager flushes a new group at once when its first alert's startsAt is older than
    # group_wait (a replay's event times are), so under load the group's first notification can
    # hold only the alerts dispatched so far; the next one (group_interval later) holds them all.
    assert {key: article_ids(bodies[-1]) for key, bodies in got.items()} == expected
    assert all(len(bodies) <= 2 and article_ids(bodies[0]) <= expected[key] for key, bodies in got.items())
    body = got[("newsmon-news", warn, "baghdad")][-1]
    assert (body["status"], body["version"], body["commonLabels"]["newsmon_kind"]) == ("firing", "4", "rule")
    assert body["alerts"][0]["annotations"]["link"].startswith("https://example.org/b")


async def test_an_amtool_silence_suppresses_one_rule_and_not_the_others(
    pair: list[str], notifications: Notifications, amtool: str
) -> None:
    silenced, other = unique("silenced"), unique("other")
    added = subprocess.run(
        [amtool, "silence", "add", f"alertname={silenced}", "--duration=10m", "--author=newsmon-tests",
         "--comment=integration test", f"--alertmanager.url={pair[0]}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.strip()

    async def silence_on_both() -> bool:
        async with aiohttp.ClientSession() as session:
            lists = [await get_json(session, f"{url}/api/v2/silences") for url in pair]
        return all(any(s["id"] == silence_id for s in found) for found in lists)

    await eventually_async(silence_on_both, "the silence gossiped to the second peer")

    await post(pair, [rule_alert(silenced, "s0", "baghdad"), rule_alert(other, "o0", "baghdad")])
    await eventually(lambda: bool(notifications.of(other)), "the unsilenced rule's notification")
    await asyncio.sleep(QUIET)
    assert notifications.of(silenced) == []
    assert [article_ids(body) for _, body in notifications.of(other)] == [{"o0"}]
    async with aiohttp.ClientSession() as session:
        for url in pair:
            (state,) = await get_json(session, f"{url}/api/v2/alerts?filter=alertname%3D{silenced}")
            assert (state["status"]["state"], state["status"]["silencedBy"]) == ("suppressed", [silence_id])


async def test_a_spike_resolution_reaches_the_receiver_as_resolved(
    pair: list[str], notifications: Notifications
) -> None:
    spike, entity = unique("surge"), unique("isis")
    await post(pair, [spike_alert(spike, entity, "firing")])
    await eventually(lambda: bool(notifications.of(spike)), "the firing notification")
    # Let the second peer's delayed turn (peer timeout) see the first one's notification: a pair
    # that receives the resolution inside that window notifies the firing a second time.
    await asyncio.sleep(QUIET)
    await post(pair, [spike_alert(spike, entity, "resolved")])
    await eventually(lambda: len(notifications.of(spike)) == 2, "the resolved notification")
    await asyncio.sleep(QUIET)
    bodies = [body for _, body in notifications.of(spike)]
    assert [(b["status"], [a["status"] for a in b["alerts"]]) for b in bodies] == [
        ("firing", ["firing"]),
        ("resolved", ["resolved"]),
    ]
    assert bodies[0]["alerts"][0]["fingerprint"] == bodies[1]["alerts"][0]["fingerprint"]
    assert bodies[1]["alerts"][0]["endsAt"] == "2016-10-22T09:20:00Z"


async def test_a_firing_spike_stays_firing_while_re_sent_and_resolves_by_itself_when_re_sends_stop(
    pair: list[str], notifications: Notifications
) -> None:
    policy = ApiPolicy(resend_interval=1.0)  # endsAt = post + 4 s
    schedule = ResendSchedule(policy.resend_interval)
    spike, entity = unique("surge"), unique("isis")
    firing = spike_alert(spike, entity, "firing")
    await post(pair, [firing], policy)
    schedule.posted([firing], time.time())
    resends = 0
    until = time.monotonic() + 3 * policy.firing_ttl  # three times as long as one post would last
    while time.monotonic() < until:
        if due := schedule.due(time.time()):
            await post(pair, due, policy)
            schedule.posted(due, time.time())
            resends += 1
        await asyncio.sleep(0.1)
    assert resends >= 10
    assert [body["status"] for _, body in notifications.of(spike)] == ["firing"]
    # newsmon stops (no resolution is ever posted): Alertmanager resolves it when endsAt passes.
    await eventually(lambda: len(notifications.of(spike)) >= 2, "the resolution by endsAt")
    await asyncio.sleep(QUIET)
    assert [body["status"] for _, body in notifications.of(spike)] == ["firing", "resolved"]


async def test_a_firing_spike_inhibits_its_entitys_rule_alerts(
    pair: list[str], notifications: Notifications
) -> None:
    spike, rule, entity, elsewhere = unique("surge"), unique("rule"), unique("isis"), unique("mosul")
    await post(pair, [spike_alert(spike, entity, "firing")])
    await eventually(lambda: bool(notifications.of(spike)), "the spike's notification")
    await post(pair, [rule_alert(rule, "i0", entity), rule_alert(rule, "e0", elsewhere)])
    await eventually(lambda: bool(notifications.of(rule)), "the other entity's rule notification")
    await asyncio.sleep(QUIET)
    assert [(body["groupLabels"]["entity"], article_ids(body)) for _, body in notifications.of(rule)] == [
        (elsewhere, {"e0"})
    ]
    async with aiohttp.ClientSession() as session:
        for url in pair:
            alerts = await get_json(session, f"{url}/api/v2/alerts?filter=alertname%3D{rule}")
            states = {
                a["labels"]["entity"]: (a["status"]["state"], bool(a["status"]["inhibitedBy"]))
                for a in alerts
            }
            assert states == {entity: ("suppressed", True), elsewhere: ("active", False)}


@pytest.fixture
def first_peer_stopped(pair: list[str]) -> Iterator[None]:
    """alertmanager1 (the peer that notifies first) stopped by PID; always started again."""
    stack("down", "alertmanager1")
    try:
        yield
    finally:
        stack("up", "alertmanager1")


async def test_with_one_alertmanager_down_nothing_is_lost(
    pair: list[str], notifications: Notifications, first_peer_stopped: None
) -> None:
    rule = unique("rule")
    alerts = [rule_alert(rule, f"d{n}", "baghdad") for n in range(5)]
    results = await post(pair, alerts, max_attempts=3)
    assert [(r.outcome, r.attempts) for r in results] == [("failed_permanent", 3), ("delivered", 1)]
    assert results[0].error.startswith("gave up after 3 attempts: ClientConnectorError")
    await eventually(lambda: bool(notifications.of(rule)), "the surviving peer's notification")
    await asyncio.sleep(QUIET)
    assert [(name, article_ids(body)) for name, body in notifications.of(rule)] == [
        ("newsmon-news", {f"d{n}" for n in range(5)})
    ]
