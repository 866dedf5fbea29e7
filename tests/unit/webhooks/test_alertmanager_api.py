"""Alertmanager API v2 bodies: labels, bounded evidence, startsAt/endsAt, and the re-send schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from streams.model.alert import Alert, Evidence, Status, rule_alert_id, spike_alert_id
from streams.webhooks.alertmanager_api import (
    ApiPolicy,
    ResendSchedule,
    api_alert,
    api_body,
    api_labels,
    bounded_evidence,
    cut_utf8,
    ends_at,
)

START = datetime(2016, 10, 22, 9, 30, tzinfo=UTC)  # stream time: a replayed day
NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)  # wall time of the post
POLICY = ApiPolicy(resend_interval=60, rule_ttl=300, evidence_max_bytes=2048, external_url="http://dash")


def evidence(n: int, title: str = "كارتر يبحث بأنقرة هزيمة داعش") -> Evidence:
    return Evidence(
        article_id=f"a{n}",
        title=title,
        url=f"https://example.org/{n}",
        source="alayam",
        published_at=None,
        matched_names=["داعش"],
    )


def rule_alert(*items: Evidence) -> Alert:
    return Alert(
        id=rule_alert_id("isis_mosul", "a1"),
        kind="rule",
        status="firing",
        rule_id="isis_mosul",
        severity="critical",
        description="ISIS near Mosul",
        starts_at=START,
        evidence=list(items or [evidence(1)]),
    )


def spike(status: Status, ended: datetime | None = None) -> Alert:
    return Alert(
        id=spike_alert_id("surge", "isis", 1_477_128_600, status),
        kind="spike",
        status=status,
        rule_id="surge",
        entity="isis",
        severity="warning",
        starts_at=START,
        ends_at=ended,
        count=12,
        baseline=1.5,
        ratio=8.0,
        window="5m",
        evidence=[evidence(1)],
    )


def test_rule_alert_labels_carry_the_given_entity_and_the_article() -> None:
    assert api_labels(rule_alert(), "isis") == {
        "alertname": "isis_mosul",
        "article_id": "a1",
        "entity": "isis",
        "newsmon_kind": "rule",
        "rule": "isis_mosul",
        "severity": "critical",
    }


def test_spike_labels_keep_their_own_entity() -> None:
    assert api_labels(spike("firing"), "other") == {
        "alertname": "surge",
        "entity": "isis",
        "newsmon_kind": "spike",
        "rule": "surge",
        "severity": "warning",
    }


def test_rule_alert_body_ends_rule_ttl_after_posting() -> None:
    alert = rule_alert()
    assert api_alert(alert, POLICY, NOW, "isis") == {
        "labels": api_labels(alert, "isis"),
        "annotations": {
            "description": "ISIS near Mosul",
            "evidence": "كارتر يبحث بأنقرة هزيمة داعش (alayam) https://example.org/1",
            "link": "https://example.org/1",
            "newsmon_alert_id": alert.id,
            "summary": "isis_mosul: كارتر يبحث بأنقرة هزيمة داعش",
        },
        "startsAt": "2016-10-22T09:30:00Z",
        "endsAt": "2026-12-07T23:05:00Z",
        "generatorURL": "http://dash",
    }


def test_firing_spike_ends_four_resend_intervals_after_each_post() -> None:
    body = api_alert(spike("firing"), POLICY, NOW)
    assert body["endsAt"] == "2026-12-07T23:04:00Z"
    assert body["annotations"]["summary"] == "Spike in isis: 12 mentions in 5m, 8.0x the baseline of 1.50"


def test_resolved_spike_ends_at_its_resolution_but_never_in_the_future() -> None:
    resolved_at = START + timedelta(minutes=25)
    assert ends_at(spike("resolved", resolved_at), POLICY, NOW) == resolved_at
    soon = NOW + timedelta(minutes=3)  # stream time may run up to 5 minutes ahead
    assert ends_at(spike("resolved", soon), POLICY, NOW) == NOW
    assert ends_at(spike("resolved"), POLICY, NOW) == NOW


def test_ends_at_is_never_before_starts_at() -> None:
    ahead = rule_alert().model_copy(update={"starts_at": NOW + timedelta(hours=1)})
    assert ends_at(ahead, POLICY, NOW) == NOW + timedelta(hours=1)


def test_link_falls_back_to_the_external_url_and_no_evidence_means_no_evidence_annotation() -> None:
    bare = spike("firing").model_copy(update={"evidence": []})
    annotations = api_alert(bare, POLICY, NOW)["annotations"]
    assert annotations["link"] == "http://dash"
    assert "evidence" not in annotations


def test_evidence_keeps_whole_lines_and_counts_the_rest() -> None:
    items = [evidence(n, title=f"t{n}") for n in range(1, 5)]
    line = "t1 (alayam) https://example.org/1"  # 33 bytes
    assert bounded_evidence(items, 4096).count("\n") == 3
    assert bounded_evidence(items, 2 * 33 + 1 + 1 + len("… and 2 more".encode())) == "\n".join(
        [line, "t2 (alayam) https://example.org/2", "… and 2 more"]
    )
    assert bounded_evidence(items, 33 + 1 + len("… and 3 more".encode())) == f"{line}\n… and 3 more"


def test_evidence_cuts_a_first_line_that_alone_is_too_long_on_a_character_boundary() -> None:
    text = bounded_evidence([evidence(1, title="داعش" * 100)], 11)
    assert text == "داعش…"  # 4 letters × 2 bytes + 3 bytes of the ellipsis
    assert len(text.encode()) == 11


def test_cut_utf8() -> None:
    assert cut_utf8("abc", 3) == "abc"
    assert cut_utf8("داعش", 6) == "د…"
    assert cut_utf8("داعش", 4) == "…"  # one letter (2 bytes) would not fit beside the 3-byte mark
    assert cut_utf8("abcdef", 2) == ""


def test_api_body_is_the_json_array_with_rule_subjects() -> None:
    alerts = [rule_alert(), spike("firing")]
    decoded = orjson.loads(api_body(alerts, POLICY, NOW, {"isis_mosul": "isis"}))
    assert decoded == [api_alert(alerts[0], POLICY, NOW, "isis"), api_alert(alerts[1], POLICY, NOW)]


def test_resend_schedule_resends_firing_spikes_every_interval_until_resolved() -> None:
    schedule = ResendSchedule(interval=60)
    schedule.posted([spike("firing"), rule_alert()], at=100)
    assert schedule.firing() == [spike("firing")]  # rule alerts are events: never re-sent
    assert schedule.next_due() == 160
    assert schedule.due(159.9) == []
    assert schedule.due(160) == [spike("firing")]
    schedule.posted(schedule.due(160), at=160)
    assert schedule.next_due() == 220
    schedule.posted([spike("resolved", START + timedelta(minutes=25))], at=200)
    assert schedule.due(1000) == []
    assert schedule.next_due() is None


def test_resend_schedule_orders_due_alerts_by_last_post() -> None:
    schedule = ResendSchedule(interval=60)
    other = spike("firing").model_copy(update={"entity": "mosul"})
    schedule.posted([other], at=50)
    schedule.posted([spike("firing")], at=10)
    assert schedule.due(200) == [spike("firing"), other]
