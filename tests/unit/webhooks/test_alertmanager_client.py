"""The HA client: every Alertmanager gets the same batch, each retried on its own (loopback servers)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from streams.model.alert import Alert
from streams.webhooks import verify
from streams.webhooks.alertmanager_api import API_PATH, api_targets, batch_id
from streams.webhooks.client import post_to_all
from streams.webhooks.receivers import Receiver

SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM="
BODY = b'[{"labels":{"alertname":"r"}}]'


def receiver(secret: str = "") -> Receiver:
    return Receiver(
        name="am", url="http://unused", format="alertmanager", secret=secret, max_attempts=3, timeout=2.0
    )


async def no_sleep(_seconds: float) -> None:
    return None


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def alertmanagers() -> AsyncIterator[tuple[list[str], list[tuple[int, bytes, dict[str, str]]]]]:
    """Two fake Alertmanagers: the first answers 200, the second 503 once and then 200."""
    seen: list[tuple[int, bytes, dict[str, str]]] = []
    failures = {1: 1}
    runners = []
    for index in (0, 1):

        async def alerts(request: web.Request, index: int = index) -> web.Response:
            seen.append((index, await request.read(), dict(request.headers)))
            if failures.get(index, 0):
                failures[index] -= 1
                return web.Response(status=503)
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post(API_PATH, alerts)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
    yield [f"http://127.0.0.1:{r.addresses[0][1]}/" for r in runners], seen
    for runner in runners:
        await runner.cleanup()


def test_api_targets_post_to_api_v2_and_are_named_by_host() -> None:
    targets = api_targets(receiver(), ["http://127.0.0.1:9193/", "http://am-b:9093"])
    assert [(t.name, t.url) for t in targets] == [
        ("am@127.0.0.1:9193", "http://127.0.0.1:9193/api/v2/alerts"),
        ("am@am-b:9093", "http://am-b:9093/api/v2/alerts"),
    ]


def test_batch_id_depends_on_the_alerts_and_the_post_time() -> None:
    alert = Alert(id="x1", kind="rule", status="firing", rule_id="r", severity="info",
                  starts_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    other = alert.model_copy(update={"id": "x2"})
    assert batch_id([alert], 1.0) == batch_id([alert], 1.0)
    assert len({batch_id([alert], 1.0), batch_id([alert], 2.0), batch_id([alert, other], 1.0)}) == 3
    assert batch_id([alert], 1.0).startswith("am-")


async def test_every_alertmanager_gets_the_batch_and_failures_are_retried_per_target(
    alertmanagers: tuple[list[str], list[tuple[int, bytes, dict[str, str]]]],
) -> None:
    urls, seen = alertmanagers
    retried: list[str] = []
    async with aiohttp.ClientSession() as session:
        results = await post_to_all(
            session, api_targets(receiver(), urls), "am-1", BODY, sleep=no_sleep,
            on_retry=lambda name, outcome: retried.append(f"{name} {outcome.status}"),
        )  # fmt: skip
    assert [(r.outcome, r.attempts, r.status) for r in results] == [
        ("delivered", 1, 200),
        ("delivered", 2, 200),
    ]
    assert sorted(index for index, _, _ in seen) == [0, 1, 1]
    assert all(body == BODY for _, body, _ in seen)
    assert retried == [f"{results[1].receiver} 503"]
    assert all("webhook-signature" not in headers for _, _, headers in seen)  # no secret, no signature


async def test_a_signed_batch_verifies(
    alertmanagers: tuple[list[str], list[tuple[int, bytes, dict[str, str]]]],
) -> None:
    urls, seen = alertmanagers
    async with aiohttp.ClientSession() as session:
        await post_to_all(session, api_targets(receiver(SECRET), urls[:1]), "am-2", BODY, sleep=no_sleep)
    ((_, body, headers),) = seen
    assert verify(body, headers, SECRET) == [{"labels": {"alertname": "r"}}]
    assert headers["webhook-id"] == "am-2"


async def test_an_alertmanager_that_is_down_does_not_hold_back_the_other(
    alertmanagers: tuple[list[str], list[tuple[int, bytes, dict[str, str]]]],
) -> None:
    urls, seen = alertmanagers
    down = f"http://127.0.0.1:{closed_port()}"
    async with aiohttp.ClientSession() as session:
        results = await post_to_all(
            session, api_targets(receiver(), [urls[0], down]), "am-3", BODY, sleep=no_sleep
        )
    assert [(r.outcome, r.attempts) for r in results] == [("delivered", 1), ("failed_permanent", 3)]
    assert results[1].error.startswith("gave up after 3 attempts: ClientConnectorError")
    assert [index for index, _, _ in seen] == [0]
