"""`per: story | article` on rules, and the one alert of a rule and a story (its id and evidence)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.model.alert import rule_alert_id
from streams.model.article import Article
from streams.rules.per_story import story_alert
from streams.rules.rule import RuleError, RuleSpec, compile_rule, load_rules

ENTITIES = {"carter", "raqqa"}
AT = datetime(2016, 10, 22, 9, 0, tzinfo=UTC)


def test_rules_are_per_story_by_default_and_may_be_per_article() -> None:
    by_default = compile_rule(RuleSpec(id="a", expr="carter"), ENTITIES, set())
    per_article = compile_rule(RuleSpec(id="b", expr="carter", per="article"), ENTITIES, set())
    assert (by_default.per, per_article.per) == ("story", "article")


def test_an_unknown_per_is_refused_with_the_entry_named() -> None:
    with pytest.raises(RuleError, match=r"rules\[0\] \(id 'a'\).*per.*'story' or 'article'"):
        load_rules([{"id": "a", "expr": "carter", "per": "source"}], ENTITIES, set())


def test_a_story_alert_has_the_story_id_and_the_first_copy_with_its_copies_and_sources() -> None:
    rule = compile_rule(RuleSpec(id="carter_raqqa", expr="carter AND raqqa"), ENTITIES, set())
    first = Article(id="seed", title="Carter on Raqqa", url="https://w.example/1", source="wire",
                    published_at="2016-10-22T09:00:00+00:00")  # fmt: skip
    alert = story_alert(
        rule.alert(first, ["Carter", "Raqqa"], AT), "seed", {"site01": 1, "wire": 1, "site02": 2}
    )
    assert alert.id == rule_alert_id("carter_raqqa", "seed")
    [evidence] = alert.evidence
    assert evidence.model_dump() == {
        "article_id": "seed", "title": "Carter on Raqqa", "url": "https://w.example/1", "source": "wire",
        "published_at": "2016-10-22T09:00:00+00:00", "matched_names": ["Carter", "Raqqa"], "story": "seed",
        "copies": 4, "copy_sources": ["site01", "site02", "wire"],
    }  # fmt: skip
    assert (alert.rule_id, alert.starts_at, alert.status) == ("carter_raqqa", AT, "firing")
