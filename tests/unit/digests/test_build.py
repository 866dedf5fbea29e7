"""Building a digest from a period's tally: the top subjects, their sources and evidence, the empty period, stable ids."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from streams.digests.build import PeriodTally, build_digest, subjects, top_subjects
from streams.digests.schedule import digest_id, load_digests
from streams.model.alert import Alert, Evidence
from streams.webhooks.alertmanager_api import ApiPolicy, api_alert
from streams.webhooks.bodies import alertmanager_body, slack_body

(DAILY,) = load_digests([{"id": "daily", "entities": ["isis", "mosul", "baghdad"], "rules": ["r"], "top": 2}],
                        {"isis", "mosul", "baghdad", "turkey"}, {"r"}, {"ops"})  # fmt: skip
PERIOD = DAILY.schedule.period_containing(datetime(2026, 11, 20, 9, 30, tzinfo=UTC))


def evidence(article_id: str) -> Evidence:
    return Evidence(article_id=article_id, title=f"t {article_id}", url="", source="s1", published_at=None,
                    matched_names=[])  # fmt: skip


def test_an_articles_lines_are_its_covered_entities_and_covered_rules() -> None:
    assert subjects(DAILY, {"isis": 2, "turkey": 5, "mosul": 0}, ["r", "other"]) == {"isis": 2, "rule:r": 1}
    assert subjects(DAILY, {"turkey": 5}, []) == {}


def test_top_subjects_by_mentions_then_articles_then_name() -> None:
    tally = PeriodTally(mentions={"isis": 5, "mosul": 5, "baghdad": 9}, articles={"isis": 2, "mosul": 3})
    assert top_subjects(tally, 2) == ["baghdad", "mosul"]
    assert top_subjects(PeriodTally(mentions={"b": 1, "a": 1}), 5) == ["a", "b"]


def test_the_digest_of_a_period() -> None:
    tally = PeriodTally(
        mentions={"isis": 7, "mosul": 3, "baghdad": 1},
        articles={"isis": 3, "mosul": 2, "baghdad": 1},
        sources={"isis": {"s2": 1, "s1": 2}, "mosul": {"s1": 2}},
        evidence={"isis": [evidence(f"a{i}") for i in range(5)], "mosul": [evidence("m1")]},
    )
    alert = build_digest(DAILY, PERIOD, tally)
    assert alert is not None and alert.digest is not None
    assert (alert.id, alert.kind, alert.rule_id, alert.receivers) == (
        digest_id("daily", PERIOD),
        "digest",
        "daily",
        ["ops"],
    )
    assert (alert.starts_at, alert.ends_at) == (
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 11, 21, tzinfo=UTC),
    )
    assert alert.digest.period == "2026-11-20 UTC"
    assert [(e.subject, e.mentions, e.articles, e.sources) for e in alert.digest.entries] == [
        ("isis", 7, 3, {"s1": 2, "s2": 1}),
        ("mosul", 3, 2, {"s1": 2}),
    ]
    assert [e.article_id for e in alert.digest.entries[0].evidence] == ["a0", "a1", "a2"]
    assert alert.description == (
        "2026-11-20 UTC:\nisis: 7 mentions in 3 articles (s1 2, s2 1)\nmosul: 3 mentions in 2 articles (s1 2)"
    )


def test_an_empty_period_sends_nothing_unless_send_empty() -> None:
    assert build_digest(DAILY, PERIOD, PeriodTally()) is None
    (loud,) = load_digests([{"id": "daily", "entities": "*", "send_empty": True}], {"isis"}, set(), {"ops"})
    alert = build_digest(loud, PERIOD, PeriodTally())
    assert alert is not None and alert.digest is not None
    assert (alert.digest.entries, alert.description) == ([], "2026-11-20 UTC: nothing new")


def test_the_same_digest_and_period_give_the_same_id_in_every_replay() -> None:
    later = DAILY.schedule.period_containing(datetime(2026, 11, 21, 0, 0, tzinfo=UTC))
    assert digest_id("daily", PERIOD) == digest_id("daily", DAILY.schedule.period_containing(PERIOD.start))
    assert len({digest_id("daily", PERIOD), digest_id("daily", later), digest_id("other", PERIOD)}) == 3


def test_a_digest_goes_through_every_receiver_format() -> None:
    tally = PeriodTally(mentions={"isis": 2}, articles={"isis": 1}, sources={"isis": {"s1": 1}},
                        evidence={"isis": [evidence("a1")]})  # fmt: skip
    alert = build_digest(DAILY, PERIOD, tally)
    assert alert is not None
    webhook = alertmanager_body(alert, "ops")
    assert webhook["newsmon"]["digest"]["entries"][0]["subject"] == "isis"
    assert webhook["alerts"][0]["annotations"]["summary"] == "daily 2026-11-20 UTC: isis 2"
    assert slack_body(alert)["text"] == "[FIRING] info: daily 2026-11-20 UTC: isis 2\n• t a1 (s1)"
    now = datetime(2027, 1, 1, tzinfo=UTC)
    posted = api_alert(alert, ApiPolicy(rule_ttl=600), now)
    assert (posted["labels"]["newsmon_kind"], posted["labels"]["alertname"]) == ("digest", "daily")
    assert (posted["startsAt"], posted["endsAt"]) == ("2026-11-20T00:00:00Z", "2027-01-01T00:10:00Z")


def test_rule_and_spike_alert_json_has_no_digest_key_and_a_digest_round_trips() -> None:
    rule = Alert(id="x", kind="rule", status="firing", rule_id="r", severity="info", starts_at=PERIOD.start)
    assert "digest" not in orjson.loads(rule.to_json()) and "digest" not in rule.model_dump()
    digest = build_digest(DAILY, PERIOD, PeriodTally(mentions={"isis": 1}, articles={"isis": 1}))
    assert digest is not None and Alert.from_json(digest.to_json()) == digest


def test_a_line_lists_its_top_stories_by_articles_with_sources_and_first_article() -> None:
    (two,) = load_digests([{"id": "d", "entities": "*", "stories": 2}], {"isis"}, set(), set())
    tally = PeriodTally(
        mentions={"isis": 9}, articles={"isis": 6}, sources={"isis": {"s1": 4, "s2": 2}},
        story_articles={"isis": {"x": 1, "y": 3, "z": 2}},
        story_sources={"isis": {"y": {"s2": 1, "s1": 2}, "z": {"s1": 2}}},
        story_evidence={"isis": {"x": evidence("x1"), "y": evidence("y1"), "z": evidence("z1")}},
    )  # fmt: skip
    alert = build_digest(two, PERIOD, tally)
    assert alert is not None and alert.digest is not None
    (line,) = alert.digest.entries
    assert [(s.story, s.articles, s.sources, s.evidence.article_id) for s in line.stories] == [
        ("y", 3, {"s1": 2, "s2": 1}, "y1"),
        ("z", 2, {"s1": 2}, "z1"),
    ]
    assert [e.article_id for e in line.evidence] == ["y1", "z1"]
    assert (
        alert.description
        == "2026-11-20 UTC:\nisis: 9 mentions in 6 articles (s1 4, s2 2)\n  t y1 (3 articles)\n  t z1 (2 articles)"
    )
