"""Webhook receivers: spec, Alertmanager/Slack bodies, Standard Webhooks signing and verifying, delivery."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Literal

import aiohttp
import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
)

from streams.model.alert import (
    ID_PATTERN,
    Alert,
    SpecError,
    describe_validation_error,
    parse_duration,
)

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300
ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager writes as endsAt of a firing alert
SEPARATOR_BYTE = 0xFF
FNV64_OFFSET = 14695981039346656037
FNV64_PRIME = 1099511628211

Format = Literal["alertmanager", "slack"]
Verdict = Literal["delivered", "retry", "permanent"]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


# --- receiver spec -------------------------------------------------------------------------------------


class ReceiverSpec(BaseModel):
    """One value of the watchlist's ``webhooks`` mapping (see docs/watchlist.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    format: Format = "alertmanager"
    secret_env: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    timeout: str = "5s"
    # 10 attempts with full-jitter backoff up to 1m retry for ~2 minutes on average (4 at most),
    # so a receiver that restarts or is down for a deploy loses nothing.
    max_attempts: StrictInt = Field(default=10, ge=1, le=50)
    backoff_initial: str = "1s"
    backoff_max: str = "1m"
    retry_after_max: str = "5m"  # a longer Retry-After is cut to this, so one receiver cannot stall delivery
    rate_limit_per_s: float = Field(default=5.0, gt=0)
    external_url: str = ""  # externalURL and generatorURL in Alertmanager bodies, e.g. a dashboard link

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        scheme, _, rest = value.partition("://")
        if scheme not in ("http", "https") or not rest.split("/", 1)[0]:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("timeout", "backoff_initial", "backoff_max", "retry_after_max")
    @classmethod
    def _positive_duration(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError(f"{value!r} must be longer than zero")
        return value


@dataclass(frozen=True, slots=True)
class Receiver:
    """A receiver ready for delivery: durations in seconds, the secret read from its env var."""

    name: str
    url: str
    format: Format
    secret: str = field(repr=False)
    timeout: float = 5.0
    max_attempts: int = 10
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0
    rate_limit_per_s: float = 5.0
    external_url: str = ""


class ReceiverError(SpecError):
    """A bad entry in the ``webhooks`` section."""


def load_receivers(raw: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Receiver]:
    """Validate the ``webhooks`` section and read each secret from its env var (default: os.environ)."""
    if not isinstance(raw, Mapping):
        raise ReceiverError("webhooks", "must be a mapping of receiver name to receiver")
    environment = os.environ if env is None else env
    return {name: _load_receiver(name, item, environment) for name, item in raw.items()}


def _load_receiver(name: Any, item: Any, env: Mapping[str, str]) -> Receiver:
    label = f"webhooks[{name!r}]"
    if not isinstance(name, str) or not _is_id(name):
        raise ReceiverError(label, "receiver names are [a-z0-9_-]+")
    if not isinstance(item, Mapping):
        raise ReceiverError(label, "must be a mapping with url and secret_env")
    try:
        spec = ReceiverSpec.model_validate(item)
    except ValidationError as exc:
        raise ReceiverError(label, describe_validation_error(exc)) from None
    secret = env.get(spec.secret_env, "")
    if not secret:
        raise ReceiverError(label, f"environment variable {spec.secret_env} (secret_env) is not set or empty")
    try:
        signing_key(secret)
    except ValueError as exc:
        raise ReceiverError(label, f"secret in {spec.secret_env}: {exc}") from None
    return _receiver_from_spec(name, spec, secret)


def _is_id(name: str) -> bool:
    return re.match(ID_PATTERN, name) is not None


def _receiver_from_spec(name: str, spec: ReceiverSpec, secret: str) -> Receiver:
    return Receiver(
        name=name,
        url=spec.url,
        format=spec.format,
        secret=secret,
        timeout=parse_duration(spec.timeout),
        max_attempts=spec.max_attempts,
        backoff_initial=parse_duration(spec.backoff_initial),
        backoff_max=parse_duration(spec.backoff_max),
        retry_after_max=parse_duration(spec.retry_after_max),
        rate_limit_per_s=spec.rate_limit_per_s,
        external_url=spec.external_url,
    )


# --- bodies --------------------------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """UTC with a ``Z`` (and microseconds only when present)."""
    utc = moment.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def alert_labels(alert: Alert) -> dict[str, str]:
    """Alertmanager labels; a rule alert also carries its article so each article is its own alert."""
    labels = {
        "alertname": alert.rule_id,
        "newsmon_kind": alert.kind,
        "rule": alert.rule_id,
        "severity": alert.severity,
    }
    if alert.entity:
        labels["entity"] = alert.entity
    if alert.kind == "rule" and alert.evidence:
        labels["article_id"] = alert.evidence[0].article_id
    return dict(sorted(labels.items()))


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint: FNV-1a 64 over sorted ``name 0xff value 0xff``, 16 hex digits."""
    value = FNV64_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in (*part.encode(), SEPARATOR_BYTE):
                value = ((value ^ byte) * FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def summary(alert: Alert) -> str:
    """One human line for annotations and chat."""
    if alert.kind == "rule":
        title = alert.evidence[0].title if alert.evidence else ""
        return f"{alert.rule_id}: {title}" if title else alert.rule_id
    prefix = "Spike" if alert.status == "firing" else "Spike over"
    return (
        f"{prefix} in {alert.entity}: {alert.count} mentions in {alert.window}, "
        f"{alert.ratio or 0:.1f}x the baseline of {alert.baseline or 0:.2f}"
    )


def alert_annotations(alert: Alert) -> dict[str, str]:
    return {"description": alert.description or summary(alert), "summary": summary(alert)}


def group_key(group_labels: Mapping[str, str]) -> str:
    """Alertmanager-style ``{}:{name="value", ...}`` (root route, then the group labels)."""
    pairs = ", ".join(
        f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in group_labels.items()
    )
    return "{}:{" + pairs + "}"


def alertmanager_body(alert: Alert, receiver: str, external_url: str = "") -> dict[str, Any]:
    """Alertmanager webhook JSON version 4 for one alert, plus the ``newsmon`` object."""
    labels = alert_labels(alert)
    annotations = alert_annotations(alert)
    group_labels = {"alertname": labels["alertname"]}
    return {
        "version": "4",
        "groupKey": group_key(group_labels),
        "truncatedAlerts": 0,
        "status": alert.status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [
            {
                "status": alert.status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": rfc3339(alert.starts_at),
                "endsAt": rfc3339(alert.ends_at) if alert.ends_at else ZERO_TIME,
                "generatorURL": external_url,
                "fingerprint": fingerprint(labels),
            }
        ],
        "newsmon": alert.model_dump(mode="json", exclude={"receivers"}),
    }


def slack_escape(text: str) -> str:
    """Slack's mrkdwn needs only these three escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(alert: Alert) -> dict[str, Any]:
    """``{"text": ...}``: status, severity, summary, then one line per evidence article."""
    lines = [f"[{alert.status.upper()}] {alert.severity}: {slack_escape(summary(alert))}"]
    for item in alert.evidence:
        title = slack_escape(item.title or item.article_id)
        link = f"<{item.url}|{title}>" if item.url else title
        lines.append(f"• {link} ({slack_escape(item.source)})" if item.source else f"• {link}")
    return {"text": "\n".join(lines)}


def render_body(receiver: Receiver, alert: Alert) -> bytes:
    """The exact bytes to POST (and sign) for this receiver."""
    if receiver.format == "slack":
        return orjson.dumps(slack_body(alert))
    return orjson.dumps(alertmanager_body(alert, receiver.name, receiver.external_url))


# --- signing and verifying (Standard Webhooks) ---------------------------------------------------------


class WebhookVerificationError(ValueError):
    """A webhook whose headers, timestamp or signature do not check out."""


def signing_key(secret: str) -> bytes:
    """``whsec_<base64>`` decodes to the key; any other secret is its UTF-8 bytes."""
    if not secret:
        raise ValueError("the secret is empty")
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        # Some issuers drop the base64 padding; put it back.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError(f"a secret starting with {SECRET_PREFIX} must be base64 after the prefix") from None
    if not key:
        raise ValueError(f"the key after {SECRET_PREFIX} is empty")
    return key


def webhook_id(alert_id: str, receiver: str) -> str:
    """Stable across retries, distinct per receiver, so receivers can deduplicate on it."""
    return f"{alert_id}.{receiver}"


def _mac(msg_id: str, timestamp: int, body: bytes, key: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``."""
    return "v1," + base64.b64encode(_mac(msg_id, timestamp, body, signing_key(secret))).decode()


def signed_headers(msg_id: str, timestamp: int, body: bytes, secret: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(msg_id, timestamp, body, secret),
    }


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> Any:
    """Check a Standard Webhooks delivery and return its decoded JSON; raises WebhookVerificationError.

    Header names are case-insensitive; of several space-separated signatures one valid ``v1`` one
    suffices; the timestamp must be within ``tolerance`` seconds of ``now`` (default: the clock).
    """
    data = body.encode() if isinstance(body, str) else body
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id, stamp, signatures = (
        lowered.get(f"webhook-{part}", "") for part in ("id", "timestamp", "signature")
    )
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    timestamp = _checked_timestamp(stamp, time.time() if now is None else now, tolerance)
    expected = _mac(msg_id, timestamp, data, signing_key(secret))
    if not any(hmac.compare_digest(expected, candidate) for candidate in _v1_signatures(signatures)):
        raise WebhookVerificationError("no matching signature")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise WebhookVerificationError(f"signed body is not JSON: {exc}") from None


def _checked_timestamp(stamp: str, now: float, tolerance: float) -> int:
    if not stamp.isascii() or not stamp.isdigit():
        raise WebhookVerificationError(f"webhook-timestamp {stamp!r} is not unix seconds")
    timestamp = int(stamp)
    if timestamp < now - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if timestamp > now + tolerance:
        raise WebhookVerificationError("webhook-timestamp is too far in the future")
    return timestamp


def _v1_signatures(header: str) -> list[bytes]:
    decoded = []
    for item in header.split():
        version, _, value = item.partition(",")
        if version != "v1":
            continue
        try:
            decoded.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    return decoded


# --- retry policy (pure) -------------------------------------------------------------------------------


def classify_status(status: int) -> Verdict:
    """2xx delivered; 408, 429 and 5xx worth retrying; anything else (other 4xx, 3xx) permanent."""
    if 200 <= status < 300:
        return "delivered"
    if status in (408, 429) or 500 <= status < 600:
        return "retry"
    return "permanent"


def backoff_ceiling(failures: int, initial: float, maximum: float) -> float:
    """Exponential cap after ``failures`` failed attempts: initial, 2·initial, 4·initial, … ≤ maximum."""
    return min(maximum, initial * 2.0 ** min(failures - 1, 60))


def backoff_delay(
    failures: int, initial: float, maximum: float, rand: Callable[[], float] = random.random
) -> float:
    """Full jitter: uniform in [0, ceiling), so retrying clients spread out."""
    return rand() * backoff_ceiling(failures, initial, maximum)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header (delta-seconds or HTTP-date) as seconds from ``now``; None when absent/bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


def next_delay(
    failures: int, receiver: Receiver, retry_after: float | None, rand: Callable[[], float] = random.random
) -> float:
    """Jittered backoff, but never sooner than the receiver's Retry-After (capped at retry_after_max)."""
    delay = backoff_delay(failures, receiver.backoff_initial, receiver.backoff_max, rand)
    if retry_after is None:
        return delay
    return max(delay, min(retry_after, receiver.retry_after_max))


# --- rate limiting -------------------------------------------------------------------------------------


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; the clock is injectable for tests."""

    def __init__(self, rate: float, burst: float | None = None, clock: Clock = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, rate) if burst is None else burst
        self.clock = clock
        self.tokens = self.burst
        self.updated = clock()

    def _refill(self, now: float) -> None:
        # max(): a clock that steps back must not drain the bucket.
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = max(self.updated, now)

    def try_take(self) -> float:
        """Take a token and return 0, or take nothing and return the seconds until one is due."""
        self._refill(self.clock())
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    async def acquire(self, sleep: Sleep = asyncio.sleep) -> None:
        while (wait := self.try_take()) > 0:
            await sleep(wait)


def limiters_for(receivers: Mapping[str, Receiver], clock: Clock = time.monotonic) -> dict[str, TokenBucket]:
    """One bucket per receiver, shared by every delivery to it."""
    return {name: TokenBucket(receiver.rate_limit_per_s, clock=clock) for name, receiver in receivers.items()}


# --- delivery (I/O) ------------------------------------------------------------------------------------


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
    """One signed POST; network errors and timeouts come back as a retryable outcome."""
    headers = signed_headers(msg_id, int(clock()), body, receiver.secret)
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
