"""Rule expressions: parsing, precedence, NEAR, validation errors and evaluation paths."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.model.alert import rule_alert_id
from streams.model.article import Article
from streams.rules.evaluate import within, within_self
from streams.rules.expr import ExprSyntaxError, render
from streams.rules.parse import parse_expr
from streams.rules.rule import CompiledRule, RuleError, RuleSpec, compile_rule, load_rules, positions_of

ENTITIES = {"a", "b", "c", "d", "isis", "mosul", "and", "x-1"}


def compiled(expr: str) -> CompiledRule:
    return compile_rule(RuleSpec(id="r", expr=expr), ENTITIES, {"ops"})


# --- precedence and structure ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "tree"),
    [
        ("a OR b AND c", "(a OR (b AND c))"),
        ("a AND b OR c", "((a AND b) OR c)"),
        ("NOT a AND b", "(NOT a AND b)"),
        ("a AND NOT b OR c", "((a AND NOT b) OR c)"),
        ("a NEAR/3 b AND c", "((a NEAR/3 b) AND c)"),
        ("c OR a NEAR/3 b", "(c OR (a NEAR/3 b))"),
        ("(a OR b) AND c", "((a OR b) AND c)"),
        ("a AND b AND c", "(a AND b AND c)"),
        ("NOT NOT a", "NOT NOT a"),
        ("((a))", "a"),
        ("NOT (a OR b)", "NOT (a OR b)"),
        ("x-1 AND and", "(x-1 AND and)"),
    ],
)
def test_precedence_is_not_near_and_or(expr: str, tree: str) -> None:
    assert render(parse_expr(expr)) == tree


def test_parentheses_change_the_result() -> None:
    loose, grouped = compiled("a OR b AND c"), compiled("(a OR b) AND c")
    assert loose.matches_mentioned({"a"}) is True
    assert grouped.matches_mentioned({"a"}) is False
    assert grouped.matches_mentioned({"a", "c"}) is True


def test_not_excludes() -> None:
    rule = compiled("isis AND NOT mosul")
    assert rule.matches_mentioned({"isis"}) is True
    assert rule.matches_mentioned({"isis", "mosul"}) is False
    assert rule.matches({"isis": [4]}) is True
    assert rule.matches({"isis": [4], "mosul": [9]}) is False


def test_empty_position_list_means_not_mentioned() -> None:
    assert compiled("a AND b").matches({"a": [1], "b": []}) is False


# --- NEAR ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("gap", "expected"), [(4, True), (5, True), (6, False)])
def test_near_boundary(gap: int, expected: bool) -> None:
    rule = compiled("isis NEAR/5 mosul")
    assert rule.matches({"isis": [10], "mosul": [10 + gap]}) is expected
    assert rule.matches({"mosul": [10], "isis": [10 + gap]}) is expected


def test_near_finds_the_closest_pair_among_many() -> None:
    rule = compiled("a NEAR/2 b")
    assert rule.matches({"a": [0, 50, 100], "b": [20, 70, 102]}) is True
    assert rule.matches({"a": [0, 50, 100], "b": [20, 70, 103]}) is False


def test_near_needs_both_entities() -> None:
    assert compiled("a NEAR/5 b").matches({"a": [1, 2]}) is False


def test_near_same_entity_needs_two_mentions() -> None:
    rule = compiled("a NEAR/3 a")
    assert rule.matches({"a": [7]}) is False
    assert rule.matches({"a": [7, 10]}) is True
    assert rule.matches({"a": [7, 11]}) is False


def test_within_helpers() -> None:
    assert within([1, 5], [9], 4) is True
    assert within([1, 5], [10], 4) is False
    assert within([], [1], 10) is False
    assert within_self([0, 10, 12], 2) is True
    assert within_self([0, 10], 9) is False


def test_near_rule_has_no_mentioned_fast_path() -> None:
    rule = compiled("a NEAR/2 b OR c")
    assert rule.needs_positions is True
    with pytest.raises(ValueError, match="needs token positions"):
        rule.matches_mentioned({"a", "b"})


def test_rule_without_near_uses_fast_path() -> None:
    rule = compiled("a AND (b OR c)")
    assert rule.needs_positions is False
    assert rule.entities == frozenset({"a", "b", "c"})


# --- syntax errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "column", "problem"),
    [
        ("", 1, "empty expression"),
        ("a AND", 6, "expected an entity id, NOT or '(', found end of expression"),
        ("a AND )", 7, "expected an entity id, NOT or '(', found ')'"),
        ("(a OR b", 8, "expected ')' to close the '(' at column 1"),
        ("a b", 3, "expected AND, OR, NEAR/n or the end of the expression, found 'b'"),
        ("a and b", 3, "found 'and' (operators are upper-case)"),
        ("a & b", 3, "unexpected character '&'"),
        ("Mosul AND a", 1, "'Mosul' is neither an entity id"),
        ("a NEAR b", 3, "write NEAR/n with a whole number of tokens"),
        ("a NEAR/x b", 3, "write NEAR/n"),
        ("a NEAR/0 b", 3, "at least 1"),
        ("a NEAR/2 b NEAR/2 c", 12, "NEAR cannot be chained"),
        ("NOT a NEAR/2 b", 7, "NEAR/2 needs an entity id on each side"),
        ("a NEAR/2 (b OR c)", 10, "NEAR/2 needs an entity id on each side"),
        ("a/b", 2, "unexpected '/'"),
        ("a )", 3, "found ')'"),
    ],
)
def test_syntax_errors_name_the_column(expr: str, column: int, problem: str) -> None:
    with pytest.raises(ExprSyntaxError) as caught:
        parse_expr(expr)
    assert caught.value.column == column
    assert problem in str(caught.value)
    assert str(caught.value).startswith(f"syntax error at column {column}: ")


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(ExprSyntaxError, match="nested deeper than 64"):
        parse_expr("(" * 200 + "a" + ")" * 200)


# --- loading the section ---------------------------------------------------------------------------


def test_unknown_entity_names_entry_and_column() -> None:
    raw = [
        {"id": "one", "expr": "a"},
        {"id": "two", "expr": "b"},
        {"id": "isis_mosul", "expr": "isis AND mosull"},
    ]
    with pytest.raises(RuleError) as caught:
        load_rules(raw, ENTITIES, set())
    assert str(caught.value) == (
        "rules[2] (id 'isis_mosul'): unknown entity 'mosull' in expression at column 10"
    )
    assert isinstance(caught.value, ValueError)


def test_syntax_error_names_entry() -> None:
    with pytest.raises(RuleError, match=r"^rules\[0\] \(id 'r'\): syntax error at column 7: "):
        load_rules([{"id": "r", "expr": "a AND )"}], ENTITIES, set())


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"id": "r", "expr": "a", "sevrity": "info"}, "unknown key 'sevrity'"),
        ({"id": "r"}, "missing required key 'expr'"),
        ({"id": "Bad Id", "expr": "a"}, "id: String should match pattern"),
        ({"id": "r", "expr": "a", "severity": "urgent"}, "severity: Input should be"),
        ({"id": "r", "expr": "a", "webhooks": ["nobody"]}, "unknown webhook receiver 'nobody'"),
        ({"id": "r", "expr": "NOT a"}, "matches an article that mentions no entity"),
        ({"id": "r", "expr": "a OR NOT b"}, "matches an article that mentions no entity"),
    ],
)
def test_bad_entries_are_rejected(entry: dict[str, object], problem: str) -> None:
    with pytest.raises(RuleError) as caught:
        load_rules([entry], ENTITIES, {"ops"})
    assert str(caught.value).startswith("rules[0]")
    assert problem in str(caught.value)


def test_non_mapping_entry_and_duplicate_ids() -> None:
    with pytest.raises(RuleError, match=r"^rules\[0\]: must be a mapping"):
        load_rules(["a AND b"], ENTITIES, set())
    with pytest.raises(RuleError, match=r"^rules\[1\] \(id 'r'\): duplicate id \(also rules\[0\]\)"):
        load_rules([{"id": "r", "expr": "a"}, {"id": "r", "expr": "b"}], ENTITIES, set())
    with pytest.raises(RuleError, match="must be a list"):
        load_rules({"id": "r"}, ENTITIES, set())  # type: ignore[arg-type]


def test_defaults_and_receivers() -> None:
    rules = load_rules(
        [{"id": "r", "expr": "a"}, {"id": "s", "expr": "b", "webhooks": ["ops"], "severity": "critical"}],
        ENTITIES,
        {"slack", "ops"},
    )
    first, second = rules.rules
    assert (first.severity, first.description, first.receivers) == ("warning", "", ("ops", "slack"))
    assert (second.severity, second.receivers) == ("critical", ("ops",))
    none = load_rules([{"id": "r", "expr": "a", "webhooks": []}], ENTITIES, {"ops"})
    assert none.rules[0].receivers == ()


# --- rule sets and matcher hits --------------------------------------------------------------------


@dataclass(frozen=True)
class FakeMatch:
    entity: str
    name: str
    token: int


def test_positions_of_sorts_tokens_per_entity() -> None:
    matches = [FakeMatch("b", "B", 9), FakeMatch("a", "A", 4), FakeMatch("b", "B", 2)]
    assert positions_of(matches) == {"b": [2, 9], "a": [4]}


def test_rule_set_picks_the_path() -> None:
    plain = load_rules([{"id": "ab", "expr": "a AND b"}, {"id": "c", "expr": "c"}], ENTITIES, set())
    near = load_rules([{"id": "near", "expr": "a NEAR/3 b"}, {"id": "c", "expr": "c"}], ENTITIES, set())
    hits = [FakeMatch("a", "A", 0), FakeMatch("b", "B", 10), FakeMatch("c", "C", 20)]
    assert plain.needs_positions is False
    assert [rule.id for rule in plain.hits_for_matches(hits)] == ["ab", "c"]
    assert near.needs_positions is True
    assert [rule.id for rule in near.hits_for_matches(hits)] == ["c"]
    assert plain.hits({}) == [] and plain.hits_mentioned(set()) == []
    assert near.entities == frozenset({"a", "b", "c"})


def test_rule_alert() -> None:
    rule = compiled("isis")
    article = Article(id="art1", url="http://x/1", title="T", body="b", source="s", published_at=None)
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    alert = rule.alert(article, ["ISIS"], at)
    assert alert.id == rule_alert_id("r", "art1")
    assert (alert.kind, alert.status, alert.rule_id, alert.starts_at) == ("rule", "firing", "r", at)
    assert alert.evidence[0].matched_names == ["ISIS"]
    assert alert.receivers == ["ops"]


# --- properties ------------------------------------------------------------------------------------

names = st.sampled_from(["a", "b", "c", "d"])
positions_strategy = st.dictionaries(
    names, st.lists(st.integers(0, 200), min_size=1, max_size=6, unique=True).map(sorted)
)


@given(positions_strategy)
def test_and_equals_both_present(positions: dict[str, list[int]]) -> None:
    assert compiled("a AND b").matches(positions) == ("a" in positions and "b" in positions)


@given(positions_strategy)
def test_or_and_not_follow_boolean_algebra(positions: dict[str, list[int]]) -> None:
    present = set(positions)
    expected = "a" in present or ("b" in present and "c" not in present)
    rule = compiled("a OR b AND NOT c")
    assert rule.matches(positions) == expected
    assert rule.matches_mentioned(present) == expected


@given(positions_strategy, st.integers(1, 50))
def test_near_equals_brute_force(positions: dict[str, list[int]], distance: int) -> None:
    expected = any(abs(i - j) <= distance for i in positions.get("a", []) for j in positions.get("b", []))
    assert compiled(f"a NEAR/{distance} b").matches(positions) == expected


@given(st.lists(st.integers(0, 300), max_size=8, unique=True).map(sorted), st.integers(1, 40))
def test_near_self_equals_brute_force(tokens: list[int], distance: int) -> None:
    expected = any(0 < abs(i - j) <= distance for i in tokens for j in tokens)
    assert compiled(f"a NEAR/{distance} a").matches({"a": tokens}) == expected


entity_text = st.sampled_from(["a", "b", "c", "d"])
near_text = st.builds(lambda x, y, n: f"({x} NEAR/{n} {y})", entity_text, entity_text, st.integers(1, 20))


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda x: f"NOT {x}", children),
        st.builds(lambda x, y: f"({x} AND {y})", children, children),
        st.builds(lambda x, y: f"({x} OR {y})", children, children),
    )


expr_text = st.recursive(entity_text | near_text, _combine, max_leaves=8)


@given(expr_text)
def test_render_round_trips(text: str) -> None:
    tree = render(parse_expr(text))
    assert render(parse_expr(tree)) == tree


@given(st.lists(expr_text, min_size=1, max_size=6), positions_strategy)
def test_entity_index_never_skips_a_matching_rule(texts: list[str], positions: dict[str, list[int]]) -> None:
    raw = [{"id": f"r{number}", "expr": text} for number, text in enumerate(texts)]
    usable = []
    for entry in raw:
        try:
            load_rules([entry], ENTITIES, set())
        except RuleError:
            continue  # e.g. "NOT a": matches articles without mentions, rejected by design
        usable.append(entry)
    rules = load_rules(usable, ENTITIES, set())
    expected = [rule for rule in rules.rules if rule.matches(positions)]
    assert rules.hits(positions) == expected
    if not rules.needs_positions:
        assert rules.hits_mentioned(set(positions)) == expected
