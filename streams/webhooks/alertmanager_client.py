"""Post alert batches to every Alertmanager of a list (an HA pair each gets every alert), with the webhook retry policy."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp

from streams.model.alert import Alert
from streams.webhooks.client import AttemptOutcome, DeliveryResult, deliver_payload
from streams.webhooks.receivers import Receiver
from streams.webhooks.retry import Clock, Sleep, TokenBucket

API_PATH = "/api/v2/alerts"


def api_targets(receiver: Receiver, base_urls: Sequence[str]) -> list[Receiver]:
    """One receiver per Alertmanager, named ``<receiver>@<host:port>``, posting to its API v2."""
    return [
        replace(receiver, name=f"{receiver.name}@{urlsplit(base).netloc}", url=base.rstrip("/") + API_PATH)
        for base in base_urls
    ]


def batch_id(alerts: Iterable[Alert], posted_at: float) -> str:
    """The webhook-id of one post: its alert ids and when it was built (a re-send is a new post)."""
    digest = hashlib.sha256(f"{posted_at:.3f}".encode())
    for alert in alerts:
        digest.update(b"\x1f" + alert.id.encode())
    return "am-" + digest.hexdigest()[:32]


async def post_to_all(
    session: aiohttp.ClientSession,
    targets: Sequence[Receiver],
    msg_id: str,
    body: bytes,
    *,
    limiters: Mapping[str, TokenBucket] | None = None,
    sleep: Sleep = asyncio.sleep,
    rand: Callable[[], float] = random.random,
    clock: Clock = time.time,
    on_retry: Callable[[str, AttemptOutcome], None] | None = None,
) -> list[DeliveryResult]:
    """POST the same body to every target at once, each retried on its own; one result per target.

    A target that is down does not hold the others back; its result says ``failed_permanent``
    once its attempts run out (dead-letter it like a webhook delivery).
    """
    buckets = limiters or {}

    def hook(name: str) -> Callable[[AttemptOutcome], None] | None:
        return None if on_retry is None else lambda outcome: on_retry(name, outcome)

    deliveries = [
        deliver_payload(
            session,
            target,
            msg_id,
            body,
            limiter=buckets.get(target.name),
            sleep=sleep,
            rand=rand,
            clock=clock,
            on_retry=hook(target.name),
        )
        for target in targets
    ]
    return list(await asyncio.gather(*deliveries))
