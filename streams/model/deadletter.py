"""THE dead-letter shape on news.deadletter (pipeline and delivery): reason, origin, payload as text or base64, cut with size and sha256."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from hashlib import sha256
from typing import Any

MAX_DEADLETTER_PAYLOAD = 64 * 1024  # bytes of an input kept in its dead letter


class Reason(StrEnum):
    """Why an input went to the dead-letter topic; bounded, so it can label metrics."""

    EMPTY = "empty"
    OVERSIZE = "oversize"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    INVALID_ARTICLE = "invalid_article"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    detail: str

    def describe(self) -> str:
        return f"{self.reason.value}: {self.detail}"


def deadletter_record(
    reason: str,
    *,
    topic: str,
    partition: int,
    offset: int,
    received_at: datetime,
    payload: bytes | None,
) -> dict[str, Any]:
    """The dead-letter record (docs/contract.md "news.deadletter"): `reason` is "kind: detail";
    the payload as text, or base64 when it is not UTF-8.

    Payloads over MAX_DEADLETTER_PAYLOAD are cut (an oversize input could not fit on the dead-letter
    topic otherwise), with the original size and sha256 so the input can still be identified.
    """
    raw = payload or b""
    kept = raw[:MAX_DEADLETTER_PAYLOAD]
    text, encoding = _as_text(kept, cut=len(kept) < len(raw))
    record: dict[str, Any] = {
        "reason": reason,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "received_at": received_at.isoformat(),
        "payload": text,
        "payload_encoding": encoding,
    }
    if len(kept) < len(raw):
        record |= {
            "payload_truncated": True,
            "payload_bytes": len(raw),
            "payload_sha256": sha256(raw).hexdigest(),
        }
    return record


def _as_text(raw: bytes, cut: bool) -> tuple[str, str]:
    try:
        # A cut can split the last UTF-8 sequence; drop only that incomplete tail.
        return raw.decode("utf-8", errors="ignore" if cut else "strict"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
