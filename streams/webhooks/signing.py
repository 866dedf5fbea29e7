"""Standard Webhooks signing and verifying (webhook-id, webhook-timestamp, webhook-signature)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


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
