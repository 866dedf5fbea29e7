"""Alert message: deterministic ids, JSON round trip, and the shared spec vocabulary."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from streams.model.alert import Alert, Evidence, rule_alert_id, spike_alert_id
from streams.model.article import Article
from streams.model.spec import entry_label, format_duration, parse_duration
from streams.model.validation import describe_validation_error

START = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


def spike_alert() -> Alert:
    return Alert(
        id=spike_alert_id("surge", "isis", 1_767_225_600, "firing"),
        kind="spike",
        status="firing",
        rule_id="surge",
        entity="isis",
        severity="critical",
        starts_at=START,
        count=12,
        baseline=1.5,
        ratio=8.0,
        window="5m",
        evidence=[
            Evidence(
                article_id="a1",
                title="داعش في الموصل",
                url="https://example.org/a1",
                source="example",
                published_at="2026-11-23T20:59:00+03:00",
                matched_names=["داعش"],
            )
        ],
        receivers=["ops"],
    )


def test_rule_alert_id_is_deterministic_and_exact() -> None:
    expected = hashlib.sha256(b"rule\x1fisis_mosul\x1fart-1").hexdigest()[:32]
    assert rule_alert_id("isis_mosul", "art-1") == expected
    assert len(expected) == 32
    assert rule_alert_id("isis_mosul", "art-2") != expected
    assert rule_alert_id("isis_mosu", "lart-1") != expected  # parts are separated, not concatenated


def test_spike_alert_id_depends_on_every_part() -> None:
    base = spike_alert_id("surge", "isis", 60, "firing")
    assert base == hashlib.sha256(b"spike\x1fsurge\x1fisis\x1f60\x1ffiring").hexdigest()[:32]
    others = {
        spike_alert_id("surge2", "isis", 60, "firing"),
        spike_alert_id("surge", "mosul", 60, "firing"),
        spike_alert_id("surge", "isis", 120, "firing"),
        spike_alert_id("surge", "isis", 60, "resolved"),
    }
    assert base not in others and len(others) == 4


def test_alert_json_round_trip() -> None:
    alert = spike_alert()
    data = json.loads(alert.to_json())
    assert data["starts_at"] == "2026-11-23T21:00:00Z"
    assert data["ends_at"] is None
    assert data["evidence"][0]["title"] == "داعش في الموصل"
    assert Alert.from_json(alert.to_json()) == alert


def test_alert_rejects_unknown_fields_and_naive_times() -> None:
    raw = json.loads(spike_alert().to_json())
    with pytest.raises(ValidationError):
        Alert.model_validate({**raw, "colour": "red"})
    with pytest.raises(ValidationError):
        Alert.model_validate({**raw, "starts_at": "2026-11-23T21:00:00"})
    with pytest.raises(ValidationError):
        Alert.model_validate({**raw, "kind": "other"})


def test_alert_keeps_offsets() -> None:
    plus3 = datetime(2026, 11, 24, 0, 0, tzinfo=timezone(timedelta(hours=3)))
    alert = spike_alert().model_copy(update={"starts_at": plus3})
    assert Alert.from_json(alert.to_json()).starts_at == START


def test_evidence_from_article() -> None:
    article = Article(
        id="a9", url="u", title="t", body="b", lang="en", source="s", published_at="2026-11-23T20:00:00Z"
    )
    evidence = Evidence.from_article(article, ("ISIS", "Mosul"))
    assert evidence == Evidence(
        article_id="a9", title="t", url="u", source="s", published_at="2026-11-23T20:00:00Z",
        matched_names=["ISIS", "Mosul"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), ("0s", 0), (" 2m ", 120)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 m", "1.5h", "-1m", "1w", "m5"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(300, "5m"), (3600, "1h"), (86400, "1d"), (90, "90s"), (0, "0s"), (0.25, "250ms")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_entry_label() -> None:
    assert entry_label("rules", 2, {"id": "isis_mosul"}) == "rules[2] (id 'isis_mosul')"
    assert entry_label("rules", 0, {"expr": "a"}) == "rules[0]"
    assert entry_label("spikes", 1, "text") == "spikes[1]"


class _Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int


def test_describe_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        _Sample.model_validate({"size": "big", "colour": 1})
    assert describe_validation_error(caught.value) == (
        "missing required key 'name'; size: Input should be a valid integer, unable to parse string as an "
        "integer; unknown key 'colour'"
    )
