"""Alertmanager API v2 bodies (``POST /api/v2/alerts``) from newsmon alerts, their targets, and the re-send schedule of firing spikes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson

from streams.model.alert import Alert, Evidence
from streams.webhooks.bodies import alert_labels, fingerprint, rfc3339, summary
from streams.webhooks.receivers import Receiver

ELLIPSIS = "…"
API_PATH = "/api/v2/alerts"


@dataclass(frozen=True, slots=True)
class ApiPolicy:
    """How newsmon alerts become Alertmanager alerts; durations in seconds."""

    # A firing spike is posted again this often until it resolves (Alertmanager forgets an alert
    # whose endsAt passes without a re-send).
    resend_interval: float = 60.0
    # A rule alert is an event: it fires, then ends by itself this long after it was posted.
    rule_ttl: float = 300.0
    evidence_max_bytes: int = 2048
    external_url: str = ""  # generatorURL, and the link when an alert has no evidence URL

    @property
    def firing_ttl(self) -> float:
        """endsAt of a firing spike: four missed re-sends (as Prometheus does) and Alertmanager
        resolves it by itself, so a stopped newsmon leaves no alert firing forever."""
        return 4 * self.resend_interval


# --- labels and annotations ----------------------------------------------------------------------------


def api_labels(alert: Alert, entity: str | None = None) -> dict[str, str]:
    """The webhook labels (alertname, severity, newsmon_kind, rule, entity, article_id for rules),
    with ``entity`` given for rule alerts, which carry none of their own."""
    labels = alert_labels(alert)
    if entity and "entity" not in labels:
        labels["entity"] = entity
    return dict(sorted(labels.items()))


def evidence_line(item: Evidence) -> str:
    title = item.title or item.article_id
    source = f" ({item.source})" if item.source else ""
    url = f" {item.url}" if item.url else ""
    return f"{title}{source}{url}"


def cut_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes on a character boundary, marked with …."""
    if len(text.encode()) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode())
    if room <= 0:
        return ""
    return text.encode()[:room].decode(errors="ignore") + ELLIPSIS


def bounded_evidence(evidence: Sequence[Evidence], max_bytes: int) -> str:
    """One line per article: as many whole lines as fit in ``max_bytes`` UTF-8 bytes with
    ``… and k more`` after them; when not even one fits, the first line cut to size."""
    lines = [evidence_line(item) for item in evidence]
    for keep in range(len(lines), 0, -1):
        rest = len(lines) - keep
        text = "\n".join(lines[:keep] + ([f"{ELLIPSIS} and {rest} more"] if rest else []))
        if len(text.encode()) <= max_bytes:
            return text
    return cut_utf8(lines[0], max_bytes) if lines else ""


def api_annotations(alert: Alert, policy: ApiPolicy) -> dict[str, str]:
    """summary, description, evidence (bounded), link, and the newsmon alert id."""
    annotations = {
        "summary": summary(alert),
        "description": alert.description or summary(alert),
        "newsmon_alert_id": alert.id,
    }
    if alert.evidence:
        annotations["evidence"] = bounded_evidence(alert.evidence, policy.evidence_max_bytes)
    link = next((item.url for item in alert.evidence if item.url), policy.external_url)
    if link:
        annotations["link"] = link
    return dict(sorted(annotations.items()))


# --- times ---------------------------------------------------------------------------------------------


def ends_at(alert: Alert, policy: ApiPolicy, now: datetime) -> datetime:
    """endsAt as posted at wall time ``now`` (never before startsAt, which Alertmanager rejects).

    Rule alerts end ``rule_ttl`` after posting; firing spikes ``firing_ttl`` after each re-send; a
    resolved spike at its resolution (stream time), but no later than now, so that it is resolved.
    """
    if alert.kind in ("rule", "digest"):  # events
        end = now + timedelta(seconds=policy.rule_ttl)
    elif alert.status == "firing":
        end = now + timedelta(seconds=policy.firing_ttl)
    else:
        end = min(alert.ends_at or now, now)
    return max(end, alert.starts_at)


def api_alert(alert: Alert, policy: ApiPolicy, now: datetime, entity: str | None = None) -> dict[str, Any]:
    """One postable alert: labels, annotations, startsAt (event time), endsAt, generatorURL."""
    return {
        "labels": api_labels(alert, entity),
        "annotations": api_annotations(alert, policy),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(ends_at(alert, policy, now)),
        "generatorURL": policy.external_url,
    }


def api_body(
    alerts: Iterable[Alert],
    policy: ApiPolicy,
    now: datetime,
    entities: Mapping[str, str] | None = None,
) -> bytes:
    """The JSON array to POST; ``entities`` maps rule ids to their subject (``streams.rules.subject.rule_subject``)."""
    subjects = entities or {}
    return orjson.dumps([api_alert(a, policy, now, subjects.get(a.rule_id)) for a in alerts])


# --- where and under which id -------------------------------------------------------------------------


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


# --- re-sending firing spikes --------------------------------------------------------------------------


@dataclass(slots=True)
class ResendSchedule:
    """Which firing spike alerts are due to be posted again, keyed by label fingerprint.

    Feed it every spike alert as it is posted (``posted``); ask ``due(now)`` for the ones whose last
    post is ``interval`` or more ago, post them, and report them ``posted`` again. A resolved alert
    (same labels, so the same fingerprint) ends the re-sending. Times are unix seconds, wall clock.
    """

    interval: float
    _firing: dict[str, tuple[Alert, float]] = field(default_factory=dict)

    def posted(self, alerts: Iterable[Alert], at: float) -> None:
        for alert in alerts:
            if alert.kind != "spike":
                continue
            key = fingerprint(alert_labels(alert))
            if alert.status == "firing":
                self._firing[key] = (alert, at)
            else:
                self._firing.pop(key, None)

    def due(self, now: float) -> list[Alert]:
        """Firing alerts last posted ``interval`` or more before ``now``, oldest post first."""
        waiting = sorted(self._firing.values(), key=lambda pair: pair[1])
        return [alert for alert, last in waiting if now - last >= self.interval]

    def next_due(self) -> float | None:
        """When the next re-send falls due (None when nothing fires)."""
        if not self._firing:
            return None
        return min(last for _, last in self._firing.values()) + self.interval

    def firing(self) -> list[Alert]:
        return [alert for alert, _ in self._firing.values()]


# --- the schedule's state, as stored (streams.store.resend) ----------------------------------------


def resend_field(alert: Alert) -> str:
    """The alert's label fingerprint: a firing spike and its resolution share it."""
    return fingerprint(alert_labels(alert))


def resend_value(alert: Alert, posted_at: float) -> bytes:
    return orjson.dumps({"posted_at": posted_at, "alert": alert.model_dump(mode="json")})


def resend_changes(alerts: Iterable[Alert], posted_at: float) -> tuple[dict[str, bytes], list[str]]:
    """What a post changes in the stored schedule: firing spikes to (re)record, resolved ones to drop."""
    firing: dict[str, bytes] = {}
    resolved: list[str] = []
    for alert in alerts:
        if alert.kind != "spike":
            continue
        if alert.status == "firing":
            firing[resend_field(alert)] = resend_value(alert, posted_at)
        else:
            resolved.append(resend_field(alert))
    return firing, resolved


def schedule_from_entries(entries: Mapping[str, bytes], interval: float) -> ResendSchedule:
    """The schedule a worker (perhaps just restarted) reads back from the stored entries."""
    schedule = ResendSchedule(interval)
    for value in entries.values():
        stored = orjson.loads(value)
        schedule.posted([Alert.model_validate(stored["alert"])], float(stored["posted_at"]))
    return schedule
