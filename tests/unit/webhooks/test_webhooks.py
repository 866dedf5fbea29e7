"""Webhooks: receiver spec, Alertmanager/Slack bodies, Standard Webhooks signing, retries and rate limits."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from streams.model.alert import Alert, Evidence, Status, rule_alert_id, spike_alert_id
from streams.webhooks.bodies import ZERO_TIME, alertmanager_body, fingerprint, render_body, slack_body
from streams.webhooks.client import deliver
from streams.webhooks.receivers import Receiver, ReceiverError, load_receivers
from streams.webhooks.retry import (
    TokenBucket,
    backoff_ceiling,
    backoff_delay,
    classify_status,
    next_delay,
    retry_after_seconds,
)
from streams.webhooks.signing import (
    WebhookVerificationError,
    sign,
    signed_headers,
    signing_key,
    verify,
    webhook_id,
)

# Published test vector of the Standard Webhooks reference libraries.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM="  # base64 of "secret-key-for-tests"
NOW = 1_767_225_600.0
START = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
END = datetime(2026, 1, 1, 0, 25, 30, 500000, tzinfo=UTC)


def spike(status: Status = "firing") -> Alert:
    return Alert(
        id=spike_alert_id("surge", "isis", 1_767_225_300, status),
        kind="spike",
        status=status,
        rule_id="surge",
        entity="isis",
        severity="critical",
        starts_at=START,
        ends_at=END if status == "resolved" else None,
        count=12,
        baseline=1.5,
        ratio=8.0,
        window="5m",
        evidence=[
            Evidence(
                article_id="a1",
                title="داعش <في> الموصل & more",
                url="https://example.org/a1",
                source="example",
                published_at="2026-01-01T02:59:00+03:00",
                matched_names=["داعش", "الموصل"],
            )
        ],
        receivers=["ops"],
    )


def rule_alert() -> Alert:
    return Alert(
        id=rule_alert_id("isis_mosul", "a1"),
        kind="rule",
        status="firing",
        rule_id="isis_mosul",
        severity="warning",
        description="ISIS near Mosul",
        starts_at=START,
        evidence=[
            Evidence(article_id="a1", title="T", url="", source="", published_at=None, matched_names=[])
        ],
        receivers=["ops"],
    )


# --- receiver spec ---------------------------------------------------------------------------------


def test_receiver_defaults_and_secret_from_env() -> None:
    receivers = load_receivers({"ops": {"url": "https://hooks.example/ops", "secret_env": "OPS_SECRET"}},
                               {"OPS_SECRET": SECRET})  # fmt: skip
    assert receivers == {
        "ops": Receiver(
            name="ops",
            url="https://hooks.example/ops",
            format="alertmanager",
            secret=SECRET,
            timeout=5.0,
            max_attempts=10,
            backoff_initial=1.0,
            backoff_max=60.0,
            retry_after_max=300.0,
            rate_limit_per_s=5.0,
            external_url="",
        )
    }
    assert SECRET not in repr(receivers["ops"])


@pytest.mark.parametrize(
    ("name", "entry", "env", "problem"),
    [
        ("ops", {"url": "https://x/y", "secret_env": "MISSING"}, {},
         "environment variable MISSING (secret_env) is not set or empty"),
        ("ops", {"url": "https://x/y", "secret_env": "S"}, {"S": ""}, "is not set or empty"),
        ("ops", {"url": "https://x/y", "secret_env": "S"}, {"S": "whsec_***"}, "must be base64 after the prefix"),
        ("ops", {"url": "ftp://x/y", "secret_env": "S"}, {"S": "k"}, "url: Value error, 'ftp://x/y' is not an http"),
        ("ops", {"url": "https://x", "secret_env": "S", "format": "teams"}, {"S": "k"}, "format: Input should be"),
        ("ops", {"url": "https://x", "secret_env": "S", "timeout": "5"}, {"S": "k"}, "timeout: Value error, bad dur"),
        ("ops", {"url": "https://x", "secret_env": "S", "timeout": "0s"}, {"S": "k"}, "must be longer than zero"),
        ("ops", {"url": "https://x", "secret_env": "S", "retries": 3}, {"S": "k"}, "unknown key 'retries'"),
        ("ops", {"url": "https://x"}, {}, "missing required key 'secret_env'"),
        ("ops", {"url": "https://x", "secret": "inline"}, {}, "unknown key 'secret'"),
        ("Ops Team", {"url": "https://x", "secret_env": "S"}, {"S": "k"}, "receiver names are [a-z0-9_-]+"),
    ],
)  # fmt: skip
def test_bad_receivers_name_entry_and_problem(
    name: str, entry: dict[str, object], env: dict[str, str], problem: str
) -> None:
    with pytest.raises(ReceiverError) as caught:
        load_receivers({name: entry}, env)
    assert str(caught.value).startswith(f"webhooks[{name!r}]: ")
    assert problem in str(caught.value)


def test_webhooks_section_must_be_a_mapping() -> None:
    with pytest.raises(ReceiverError, match=r"^webhooks: must be a mapping"):
        load_receivers([], {})  # type: ignore[arg-type]


# --- bodies ----------------------------------------------------------------------------------------


def test_fingerprint_matches_alertmanager() -> None:
    # Labels and fingerprint as sent by a real Alertmanager.
    labels = {
        "alertname": "Deployment",
        "app_kubernetes_io_instance": "eric-oss-common-base",
        "app_kubernetes_io_managed_by": "Helm",
        "app_kubernetes_io_name": "eric-pm-kube-state-metrics",
        "app_kubernetes_io_version": "2.1.0_10",
        "chart": "eric-pm-kube-state-metrics-2.1.0_10",
        "deployment": "eric-log-transformer",
        "instance": "192.168.69.53:8080",
        "job": "eric-pm-kube-state-metrics",
        "kubernetes_name": "eric-pm-kube-state-metrics",
        "kubernetes_namespace": "eric-eo-cm-ci406",
        "namespace": "eric-eo-cm-ci406",
        "severity": "Warning",
    }
    assert fingerprint(labels) == "fbab788ec4c1018b"
    assert fingerprint(dict(reversed(labels.items()))) == "fbab788ec4c1018b"
    assert fingerprint({}) == "cbf29ce484222325"  # the FNV-1a offset basis


def test_alertmanager_body_for_a_firing_spike() -> None:
    alert = spike()
    labels = {
        "alertname": "surge",
        "entity": "isis",
        "newsmon_kind": "spike",
        "rule": "surge",
        "severity": "critical",
    }
    summary = "Spike in isis: 12 mentions in 5m, 8.0x the baseline of 1.50"
    annotations = {"description": summary, "summary": summary}
    body = alertmanager_body(alert, "ops", "https://grafana.example/d/newsmon")
    assert body == {
        "version": "4",
        "groupKey": '{}:{alertname="surge"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "ops",
        "groupLabels": {"alertname": "surge"},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "https://grafana.example/d/newsmon",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": ZERO_TIME,
                "generatorURL": "https://grafana.example/d/newsmon",
                "fingerprint": fingerprint(labels),
            }
        ],
        "newsmon": {
            "id": alert.id,
            "kind": "spike",
            "status": "firing",
            "rule_id": "surge",
            "entity": "isis",
            "severity": "critical",
            "description": "",
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": None,
            "count": 12,
            "baseline": 1.5,
            "ratio": 8.0,
            "window": "5m",
            "evidence": [
                {
                    "article_id": "a1",
                    "title": "داعش <في> الموصل & more",
                    "url": "https://example.org/a1",
                    "source": "example",
                    "published_at": "2026-01-01T02:59:00+03:00",
                    "matched_names": ["داعش", "الموصل"],
                }
            ],
        },
    }


def test_resolved_spike_keeps_fingerprint_and_sets_ends_at() -> None:
    firing = alertmanager_body(spike("firing"), "ops")["alerts"][0]
    resolved_body = alertmanager_body(spike("resolved"), "ops")
    resolved = resolved_body["alerts"][0]
    assert (resolved_body["status"], resolved["status"]) == ("resolved", "resolved")
    assert resolved["endsAt"] == "2026-01-01T00:25:30.5Z"
    assert resolved["fingerprint"] == firing["fingerprint"]
    assert resolved["annotations"]["summary"].startswith("Spike over in isis")


def test_rule_alert_labels_carry_the_article() -> None:
    body = alertmanager_body(rule_alert(), "ops")
    assert body["commonLabels"] == {
        "alertname": "isis_mosul",
        "article_id": "a1",
        "newsmon_kind": "rule",
        "rule": "isis_mosul",
        "severity": "warning",
    }
    assert body["commonAnnotations"] == {"description": "ISIS near Mosul", "summary": "isis_mosul: T"}
    assert body["alerts"][0]["endsAt"] == ZERO_TIME


def test_slack_body_escapes_and_links() -> None:
    assert slack_body(spike()) == {
        "text": "[FIRING] critical: Spike in isis: 12 mentions in 5m, 8.0x the baseline of 1.50\n"
        "• <https://example.org/a1|داعش &lt;في&gt; الموصل &amp; more> (example)"
    }
    assert slack_body(rule_alert()) == {"text": "[FIRING] warning: isis_mosul: T\n• T"}


def test_render_body_by_format() -> None:
    receiver = Receiver(name="ops", url="http://127.0.0.1:1/", format="alertmanager", secret="k")
    assert json.loads(render_body(receiver, spike())) == alertmanager_body(spike(), "ops")
    slack = replace(receiver, format="slack")
    assert json.loads(render_body(slack, spike())) == slack_body(spike())


# --- signing and verifying -------------------------------------------------------------------------


def sw_headers(signature: str = SW_SIGNATURE) -> dict[str, str]:
    return {"webhook-id": SW_ID, "webhook-timestamp": str(SW_TIMESTAMP), "webhook-signature": signature}


def test_standard_webhooks_vector_signs() -> None:
    assert sign(SW_ID, SW_TIMESTAMP, SW_BODY, SW_SECRET) == SW_SIGNATURE


def test_standard_webhooks_vector_verifies() -> None:
    assert verify(SW_BODY, sw_headers(), SW_SECRET, now=SW_TIMESTAMP) == {"test": 2432232314}
    assert verify(SW_BODY.decode(), sw_headers(), SW_SECRET, now=SW_TIMESTAMP) == {"test": 2432232314}


def test_standard_webhooks_vector_with_a_wrong_signature_fails() -> None:
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(
            SW_BODY,
            sw_headers("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
            SW_SECRET,
            now=SW_TIMESTAMP,
        )


def test_several_signatures_one_valid_suffices() -> None:
    mixed = " ".join(
        [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v1,not*base64",
            "garbage",
            SW_SIGNATURE,
        ]
    )
    assert verify(SW_BODY, sw_headers(mixed), SW_SECRET, now=SW_TIMESTAMP) == {"test": 2432232314}


def test_header_names_are_case_insensitive() -> None:
    headers = {name.upper(): value for name, value in sw_headers().items()}
    assert verify(SW_BODY, headers, SW_SECRET, now=SW_TIMESTAMP) == {"test": 2432232314}


def test_plain_secret_is_used_as_utf8_bytes() -> None:
    assert signing_key("plain secret") == b"plain secret"
    assert signing_key("whsec_cGxhaW4gc2VjcmV0") == b"plain secret"
    assert signing_key(SW_SECRET) == signing_key(SW_SECRET + "==")  # base64 padding is optional
    headers = signed_headers("id-1", 100, b"{}", "plain secret")
    assert verify(b"{}", headers, "plain secret", now=100) == {}
    assert verify(b"{}", headers, "whsec_cGxhaW4gc2VjcmV0", now=100) == {}
    # Without the prefix a secret is not base64-decoded, so the vector's bare secret is another key.
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(SW_BODY, sw_headers(), SW_SECRET.removeprefix("whsec_"), now=SW_TIMESTAMP)


@pytest.mark.parametrize(
    ("offset", "ok"), [(-300, True), (300, True), (-301, False), (301, False)]
)  # fmt: skip
def test_timestamp_tolerance_is_five_minutes_each_way(offset: int, ok: bool) -> None:
    if ok:
        assert verify(SW_BODY, sw_headers(), SW_SECRET, now=SW_TIMESTAMP - offset) == {"test": 2432232314}
    else:
        with pytest.raises(WebhookVerificationError, match=r"too old|too far in the future"):
            verify(SW_BODY, sw_headers(), SW_SECRET, now=SW_TIMESTAMP - offset)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_fails(missing: str) -> None:
    headers = sw_headers()
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(SW_BODY, headers, SW_SECRET, now=SW_TIMESTAMP)


def test_bad_timestamp_tampered_body_and_non_json() -> None:
    with pytest.raises(WebhookVerificationError, match="not unix seconds"):
        verify(SW_BODY, {**sw_headers(), "webhook-timestamp": "hello"}, SW_SECRET, now=SW_TIMESTAMP)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(b'{"test": 2432232315}', sw_headers(), SW_SECRET, now=SW_TIMESTAMP)
    headers = signed_headers("m", 100, b"not json", "k")
    with pytest.raises(WebhookVerificationError, match="not JSON"):
        verify(b"not json", headers, "k", now=100)
    assert issubclass(WebhookVerificationError, ValueError)


def test_signing_key_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        signing_key("")
    with pytest.raises(ValueError, match="must be base64"):
        signing_key("whsec_!!")


def test_webhook_id_is_alert_and_receiver() -> None:
    assert webhook_id("abc", "ops") == "abc.ops"


# --- retry policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(200, "delivered"), (204, "delivered"), (301, "permanent"), (400, "permanent"), (401, "permanent"),
     (404, "permanent"), (408, "retry"), (409, "permanent"), (429, "retry"), (500, "retry"), (503, "retry")],
)  # fmt: skip
def test_classify_status(status: int, verdict: str) -> None:
    assert classify_status(status) == verdict


def test_backoff_schedule() -> None:
    assert [backoff_ceiling(n, 1.0, 60.0) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff_ceiling(10_000, 0.5, 30.0) == 30.0
    assert backoff_delay(3, 1.0, 60.0, rand=lambda: 0.25) == 1.0
    assert backoff_delay(3, 1.0, 60.0, rand=lambda: 0.0) == 0.0


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7", NOW) == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", NOW) == 30.0
    assert retry_after_seconds("Wed, 31 Dec 2025 00:00:00 GMT", NOW) == 0.0
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds(None, NOW) is None


def test_next_delay_honours_retry_after_up_to_its_cap() -> None:
    receiver = Receiver(name="r", url="http://x/", format="slack", secret="k", retry_after_max=20.0)
    assert next_delay(1, receiver, None, rand=lambda: 0.5) == 0.5
    assert next_delay(1, receiver, 7.0, rand=lambda: 0.5) == 7.0
    assert next_delay(1, receiver, 3600.0, rand=lambda: 0.5) == 20.0
    assert next_delay(7, receiver, 0.0, rand=lambda: 0.5) == 30.0


# --- rate limiting ---------------------------------------------------------------------------------


@dataclass
class FakeClock:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_token_bucket_burst_then_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.try_take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_take() == 0.5
    clock.now = 0.25
    assert bucket.try_take() == 0.25
    clock.now = 0.5
    assert bucket.try_take() == 0.0
    clock.now = 100.0
    assert [bucket.try_take() for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]  # refill stops at burst


def test_token_bucket_ignores_a_clock_stepping_back() -> None:
    clock = FakeClock(now=10.0)
    bucket = TokenBucket(rate=1.0, clock=clock)
    assert bucket.try_take() == 0.0
    clock.now = 5.0
    assert bucket.try_take() == 1.0


async def test_token_bucket_acquire_waits() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4.0, burst=1, clock=clock)
    for _ in range(3):
        await bucket.acquire(clock.sleep)
    assert clock.sleeps == [0.25, 0.25]


# --- delivery against a real local server ----------------------------------------------------------


@dataclass
class Script:
    """Responses to serve in order (the last one repeats); records every request."""

    responses: list[tuple[int, dict[str, str]]]
    delay: float = 0.0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        if self.delay:
            await asyncio.sleep(self.delay)
        status, headers = self.responses[min(len(self.requests), len(self.responses)) - 1]
        return web.Response(status=status, headers=headers, text="nope" if status >= 300 else "ok")


Serve = Callable[[Script], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(script: Script) -> str:
        app = web.Application()
        app.router.add_post("/hook", script.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()


def receiver_at(url: str, **overrides: Any) -> Receiver:
    base = Receiver(name="ops", url=url, format="alertmanager", secret=SECRET, max_attempts=4, timeout=2.0)
    return replace(base, **overrides)


async def test_delivers_after_retryable_failures_and_every_attempt_verifies(serve: Serve) -> None:
    script = Script([(503, {}), (429, {"Retry-After": "2"}), (200, {})])
    receiver = receiver_at(await serve(script))
    clock = FakeClock(now=NOW)
    alert = spike()
    async with aiohttp.ClientSession() as session:
        result = await deliver(session, receiver, alert, sleep=clock.sleep, rand=lambda: 0.5, clock=clock)
    assert (result.outcome, result.attempts, result.status, result.error) == ("delivered", 3, 200, "")
    assert result.delivered and result.webhook_id == f"{alert.id}.ops"
    assert clock.sleeps == [0.5, 2.0]  # jittered 1 s, then Retry-After beats jittered 1 s
    stamps = []
    for headers, body in script.requests:
        assert headers["webhook-id"] == f"{alert.id}.ops"
        assert headers["Content-Type"] == "application/json"
        stamp = int(headers["webhook-timestamp"])
        stamps.append(stamp)
        assert verify(body, headers, SECRET, now=stamp) == alertmanager_body(alert, "ops")
    assert stamps == [int(NOW), int(NOW + 0.5), int(NOW + 2.5)]  # re-signed per attempt
    assert len({body for _, body in script.requests}) == 1


async def test_permanent_4xx_stops_at_once(serve: Serve) -> None:
    script = Script([(400, {})])
    clock = FakeClock(now=NOW)
    async with aiohttp.ClientSession() as session:
        result = await deliver(
            session, receiver_at(await serve(script)), spike(), sleep=clock.sleep, clock=clock
        )
    assert (result.outcome, result.attempts, result.status, result.error) == (
        "failed_permanent",
        1,
        400,
        "HTTP 400: nope",
    )
    assert clock.sleeps == []


async def test_gives_up_after_max_attempts(serve: Serve) -> None:
    script = Script([(500, {})])
    clock = FakeClock(now=NOW)
    receiver = receiver_at(await serve(script), max_attempts=3, backoff_initial=2.0)
    async with aiohttp.ClientSession() as session:
        result = await deliver(session, receiver, spike(), sleep=clock.sleep, rand=lambda: 1.0, clock=clock)
    assert (result.outcome, result.attempts, result.status) == ("failed_permanent", 3, 500)
    assert result.error == "gave up after 3 attempts: HTTP 500: nope"
    assert clock.sleeps == [2.0, 4.0]
    assert len(script.requests) == 3


async def test_timeouts_are_retried(serve: Serve) -> None:
    script = Script([(200, {})], delay=0.5)
    clock = FakeClock(now=NOW)
    receiver = receiver_at(await serve(script), max_attempts=2, timeout=0.1)
    async with aiohttp.ClientSession() as session:
        result = await deliver(session, receiver, spike(), sleep=clock.sleep, rand=lambda: 0.0, clock=clock)
    assert (result.outcome, result.attempts, result.status) == ("failed_permanent", 2, None)
    assert result.error == "gave up after 2 attempts: timed out after 0.1s"


async def test_connection_errors_are_retried() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FakeClock(now=NOW)
    receiver = receiver_at(f"http://127.0.0.1:{port}/hook", max_attempts=2)
    async with aiohttp.ClientSession() as session:
        result = await deliver(session, receiver, spike(), sleep=clock.sleep, rand=lambda: 0.0, clock=clock)
    assert (result.outcome, result.attempts, result.status) == ("failed_permanent", 2, None)
    assert "ClientConnectorError" in result.error


async def test_slack_delivery_is_signed_too(serve: Serve) -> None:
    script = Script([(200, {})])
    receiver = receiver_at(await serve(script), format="slack", secret="plain")
    bucket_clock = FakeClock()
    limiter = TokenBucket(rate=1.0, clock=bucket_clock)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            result = await deliver(session, receiver, rule_alert(), limiter=limiter, sleep=bucket_clock.sleep)
            assert result.delivered
    assert bucket_clock.sleeps == [1.0]  # the second delivery waited for a token
    headers, body = script.requests[0]
    assert verify(body, headers, "plain") == slack_body(rule_alert())
