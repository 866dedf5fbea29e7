"""Delivering over HTTP: one alert to one receiver, or one body to several at once; sign, post, retry, report (aiohttp)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import aiohttp

from streams.model.alert import Alert
from streams.webhooks.bodies import render_body
from streams.webhooks.receivers import Receiver
from streams.webhooks.retry import (
    Clock,
    Sleep,
    TokenBucket,
    Verdict,
    classify_status,
    next_delay,
    retry_after_seconds,
)
from streams.webhooks.signing import signed_headers, webhook_id


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    verdict: Verdict
    status: int | None
    error: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How a delivery ended; ``failed_permanent`` ones belong on the dead-letter topic."""

    receiver: str
    webhook_id: str
    outcome: Literal["delivered", "failed_permanent"]
    attempts: int
    status: int | None
    error: str

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


async def post_once(
    session: aiohttp.ClientSession, receiver: Receiver, msg_id: str, body: bytes, clock: Clock
) -> AttemptOutcome:
    """One POST, signed when the receiver has a secret; network errors and timeouts come back as a
    retryable outcome."""
    if receiver.secret:
        headers = signed_headers(msg_id, int(clock()), body, receiver.secret)
    else:
        headers = {"content-type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=receiver.timeout)
    try:
        async with session.post(
            receiver.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            text = (await response.read())[:200].decode(errors="replace")
            verdict = classify_status(response.status)
            error = "" if verdict == "delivered" else f"HTTP {response.status}: {text}".rstrip(": ")
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), clock())
            return AttemptOutcome(verdict, response.status, error, retry_after)
    except TimeoutError:
        return AttemptOutcome("retry", None, f"timed out after {receiver.timeout:g}s")
    except aiohttp.ClientError as exc:
        return AttemptOutcome("retry", None, f"{type(exc).__name__}: {exc}")


async def deliver(
    session: aiohttp.ClientSession,
    receiver: Receiver,
    alert: Alert,
    *,
    limiter: TokenBucket | None = None,
    sleep: Sleep = asyncio.sleep,
    rand: Callable[[], float] = random.random,
    clock: Clock = time.time,
    on_retry: Callable[[AttemptOutcome], None] | None = None,
) -> DeliveryResult:
    """POST the alert to the receiver, retrying retryable failures up to ``max_attempts``.

    ``on_retry`` hears of each failed attempt that will be retried, as it happens (for metrics).

    The body and ``webhook-id`` stay the same across attempts; each attempt is signed afresh with
    the current timestamp so that a late retry is not rejected as too old.
    """
    body = render_body(receiver, alert)
    msg_id = webhook_id(alert.id, receiver.name)
    return await deliver_payload(
        session,
        receiver,
        msg_id,
        body,
        limiter=limiter,
        sleep=sleep,
        rand=rand,
        clock=clock,
        on_retry=on_retry,
    )


async def deliver_payload(
    session: aiohttp.ClientSession,
    receiver: Receiver,
    msg_id: str,
    body: bytes,
    *,
    limiter: TokenBucket | None = None,
    sleep: Sleep = asyncio.sleep,
    rand: Callable[[], float] = random.random,
    clock: Clock = time.time,
    on_retry: Callable[[AttemptOutcome], None] | None = None,
) -> DeliveryResult:
    """POST ``body`` under ``msg_id`` with the receiver's retry policy (see ``deliver``)."""
    last = AttemptOutcome("retry", None, "not attempted")
    for attempt in range(1, receiver.max_attempts + 1):
        if limiter is not None:
            await limiter.acquire(sleep)
        last = await post_once(session, receiver, msg_id, body, clock)
        if last.verdict != "retry":
            outcome: Literal["delivered", "failed_permanent"] = (
                "delivered" if last.verdict == "delivered" else "failed_permanent"
            )
            return DeliveryResult(receiver.name, msg_id, outcome, attempt, last.status, last.error)
        if attempt < receiver.max_attempts:
            if on_retry is not None:
                on_retry(last)
            await sleep(next_delay(attempt, receiver, last.retry_after, rand))
    error = f"gave up after {receiver.max_attempts} attempts: {last.error}"
    return DeliveryResult(
        receiver.name, msg_id, "failed_permanent", receiver.max_attempts, last.status, error
    )


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
