"""What a receiver is sent: Alertmanager webhook and Slack bodies for an Alert."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from streams.model.alert import Alert
from streams.webhooks.receivers import Receiver

ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager writes as endsAt of a firing alert
SEPARATOR_BYTE = 0xFF
FNV64_OFFSET = 14695981039346656037
FNV64_PRIME = 1099511628211


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
    if alert.kind == "digest":
        return digest_summary(alert)
    prefix = "Spike" if alert.status == "firing" else "Spike over"
    return (
        f"{prefix} in {alert.entity}: {alert.count} mentions in {alert.window}, "
        f"{alert.ratio or 0:.1f}x the baseline of {alert.baseline or 0:.2f}"
    )


def digest_summary(alert: Alert) -> str:
    """``daily_iraq 2026-11-20 UTC: isis 812, mosul 640`` or ``…: nothing new``."""
    content = alert.digest
    if content is None:
        return alert.rule_id
    top = ", ".join(f"{entry.subject} {entry.mentions}" for entry in content.entries) or "nothing new"
    return f"{alert.rule_id} {content.period}: {top}"


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
        # A digest's content only on digests, so rule and spike bodies stay as they were.
        "newsmon": alert.model_dump(
            mode="json", exclude={"receivers"} | ({"digest"} if alert.digest is None else set())
        ),
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
