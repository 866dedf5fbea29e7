"""Rule filters: each key accepted and rejected, the gate and the mentions view, positive and negative."""

from __future__ import annotations

import pytest

from streams.matching.matcher import Matcher
from streams.matching.normalize import internal_form
from streams.rules.evaluate import compile_positions
from streams.rules.filters import (
    NO_FILTER,
    RuleFilter,
    load_rule_filter,
    split_filter_keys,
)
from streams.rules.parse import parse_expr
from streams.rules.rule import RuleError, positions_of

EXPR = parse_expr("isis AND mosul")
LABEL = "rules[0] (id 'r')"


def load(**raw: object) -> RuleFilter:
    return load_rule_filter(LABEL, raw, EXPR)


def error_of(raw: dict[str, object], expr: str = "isis AND mosul") -> str:
    with pytest.raises(RuleError) as caught:
        load_rule_filter(LABEL, raw, parse_expr(expr))
    return str(caught.value)


def test_no_filter_keys_is_no_filter() -> None:
    assert load() is NO_FILTER
    assert NO_FILTER.admits("ar", "alayam")
    assert NO_FILTER.view({"isis": [0, 9], "mosul": []}, title_tokens=3) == {"isis": [0, 9]}
    assert not NO_FILTER.narrows_mentions


def test_split_filter_keys_leaves_the_rule_keys_for_the_rule_spec() -> None:
    item = {"id": "r", "expr": "isis", "in": "title", "lang": ["ar"], "severity": "info"}
    assert split_filter_keys(item) == (
        {"id": "r", "expr": "isis", "severity": "info"},
        {"in": "title", "lang": ["ar"]},
    )


# --- in: title | any -----------------------------------------------------------------------------------


def test_in_title_keeps_only_title_mentions() -> None:
    title_only = load(**{"in": "title"})
    assert title_only.narrows_mentions
    assert title_only.view({"isis": [1, 7], "mosul": [8]}, title_tokens=5) == {"isis": [1]}


def test_in_any_is_the_default_and_keeps_body_mentions() -> None:
    assert load(**{"in": "any"}).view({"mosul": [8]}, title_tokens=5) == {"mosul": [8]}


def test_in_rejects_other_scopes() -> None:
    assert error_of({"in": "body"}) == f"{LABEL}: in: Input should be 'title' or 'any'"


def test_in_title_against_the_real_matcher_on_the_seed(seed_title_and_body: tuple[str, str]) -> None:
    title, body = seed_title_and_body  # «هزيمة داعش» … بغداد in the title; the body names الموصل often
    matcher = Matcher({"isis": ["داعش"], "baghdad": ["بغداد"], "mosul": ["الموصل"]})
    positions = positions_of(matcher.find(title, body))
    rule = compile_positions(parse_expr("isis AND mosul"))
    assert rule(positions)
    scoped = load(**{"in": "title"}).view(positions, len(internal_form(title).split()))
    assert scoped == positions_of(matcher.find(title, ""))
    assert set(scoped) == {"isis", "baghdad"}
    assert not rule(scoped)  # Mosul is only in the body
    assert compile_positions(parse_expr("isis AND baghdad"))(scoped)


# --- min_mentions ----------------------------------------------------------------------------------------


def test_min_mentions_per_entity() -> None:
    three_isis = load(min_mentions={"isis": 3})
    assert three_isis.view({"isis": [1, 2, 3], "mosul": [4]}, 9) == {"isis": [1, 2, 3], "mosul": [4]}
    assert three_isis.view({"isis": [1, 2], "mosul": [4]}, 9) == {"mosul": [4]}


def test_min_mentions_number_applies_to_every_entity_of_the_expression() -> None:
    two_each = load(min_mentions=2)
    assert two_each.min_mentions == {"isis": 2, "mosul": 2}
    assert two_each.view({"isis": [1, 2], "mosul": [4]}, 9) == {"isis": [1, 2]}


def test_min_mentions_counts_within_the_scope() -> None:
    scoped = load(**{"in": "title", "min_mentions": {"isis": 2}})
    assert scoped.view({"isis": [0, 1, 12]}, title_tokens=5) == {"isis": [0, 1]}
    assert scoped.view({"isis": [0, 11, 12]}, title_tokens=5) == {}


def test_min_mentions_under_not_reads_the_same_view() -> None:
    expr = parse_expr("isis AND NOT baghdad")
    rule = compile_positions(expr)
    once_is_not_enough = load_rule_filter(LABEL, {"min_mentions": {"baghdad": 2}}, expr)
    assert rule(once_is_not_enough.view({"isis": [1], "baghdad": [5]}, 9))
    assert not rule(once_is_not_enough.view({"isis": [1], "baghdad": [5, 6]}, 9))


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"min_mentions": {"baghdad": 2}}, "min_mentions: entity 'baghdad' is not in the expression"),
        ({"min_mentions": 0}, "min_mentions: Value error, write a whole number ≥ 1, or a mapping of entity"),
        ({"min_mentions": {"isis": 0}}, "min_mentions: Value error, write a whole number ≥ 1"),
        ({"min_mentions": "3"}, "min_mentions: Value error, write a whole number ≥ 1"),
        ({"min_mentions": {"isis": True}}, "min_mentions: Value error, write a whole number ≥ 1"),
    ],
)
def test_min_mentions_rejects(raw: dict[str, object], problem: str) -> None:
    assert error_of(raw).startswith(f"{LABEL}: {problem}")


# --- lang ------------------------------------------------------------------------------------------------


def test_lang_admits_listed_languages_by_primary_subtag() -> None:
    arabic = load(lang=["ar", "FA"])
    assert arabic.admits("ar", "s") and arabic.admits("ar-EG", "s") and arabic.admits("fa", "s")
    assert not arabic.admits("en", "s")
    assert not arabic.admits("", "s")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"lang": []}, "lang: List should have at least 1 item after validation, not 0"),
        ({"lang": ["arabic"]}, "lang.0: String should match pattern"),
        ({"lang": "ar"}, "lang: Input should be a valid list"),
    ],
)
def test_lang_rejects(raw: dict[str, object], problem: str) -> None:
    assert error_of(raw).startswith(f"{LABEL}: {problem}")


# --- sources / not_sources -------------------------------------------------------------------------------


def test_sources_admit_only_listed_sources() -> None:
    listed = load(sources=["alayam", "reuters"])
    assert listed.admits("ar", "alayam") and listed.admits("en", "reuters")
    assert not listed.admits("ar", "aljazeera")


def test_not_sources_refuse_listed_sources() -> None:
    refused = load(not_sources=["spam-site"])
    assert refused.admits("ar", "alayam")
    assert not refused.admits("ar", "spam-site")


def test_sources_and_not_sources_together() -> None:
    both = load(sources=["alayam", "reuters"], not_sources=["aljazeera"])
    assert both.admits("ar", "alayam") and not both.admits("ar", "aljazeera") and not both.admits("ar", "x")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"sources": ["a"], "not_sources": ["a"]}, "source 'a' is in both sources and not_sources"),
        ({"sources": []}, "sources: List should have at least 1 item after validation, not 0"),
        ({"not_sources": [""]}, "not_sources.0: String should have at least 1 character"),
        ({"source": ["a"]}, "unknown key 'source'"),
    ],
)
def test_sources_reject(raw: dict[str, object], problem: str) -> None:
    assert error_of(raw).startswith(f"{LABEL}: {problem}")
