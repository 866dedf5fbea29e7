"""The watchlist's rules section: rule specs, compiled rules and the per-article RuleSet."""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from streams.model.alert import Alert, Evidence, Severity, rule_alert_id
from streams.model.article import Article
from streams.model.spec import SpecError, SpecId, load_entry, load_list_section
from streams.rules.evaluate import MentionsPredicate, PositionsPredicate, compile_mentions, compile_positions
from streams.rules.expr import Expr, refs, render, uses_near
from streams.rules.parse import parse_expr


class RuleSpec(BaseModel):
    """One entry of the watchlist's ``rules`` section (see docs/watchlist.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SpecId
    expr: str
    severity: Severity = "warning"
    description: str = ""
    # None = every receiver in the ``webhooks`` section; [] = none (the alert still goes on news.alerts).
    webhooks: list[str] | None = None


class HasEntityToken(Protocol):
    """What a rule needs of a matcher hit (``streams.matching.matcher.Match``)."""

    @property
    def entity(self) -> str: ...

    @property
    def token(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A validated rule, ready to evaluate; build with ``compile_rule``."""

    id: str
    expr: Expr
    severity: Severity
    description: str
    receivers: tuple[str, ...]
    entities: frozenset[str]
    needs_positions: bool
    on_positions: PositionsPredicate = field(repr=False, compare=False)
    on_mentions: MentionsPredicate | None = field(repr=False, compare=False)

    def matches(self, positions: Mapping[str, Sequence[int]]) -> bool:
        return self.on_positions(positions)

    def matches_mentioned(self, mentioned: Container[str]) -> bool:
        if self.on_mentions is None:
            raise ValueError(f"rule {self.id!r} uses NEAR and needs token positions")
        return self.on_mentions(mentioned)

    def alert(self, article: Article, matched_names: Sequence[str], event_time: datetime) -> Alert:
        """The (only ever firing) alert for an article this rule matched."""
        return Alert(
            id=rule_alert_id(self.id, article.id),
            kind="rule",
            status="firing",
            rule_id=self.id,
            severity=self.severity,
            description=self.description,
            starts_at=event_time,
            evidence=[Evidence.from_article(article, matched_names)],
            receivers=list(self.receivers),
        )


def compile_rule(spec: RuleSpec, entities: Collection[str], receivers: Collection[str]) -> CompiledRule:
    """Parse and validate one rule; raises ValueError (ExprSyntaxError for syntax) without the entry name."""
    expr = parse_expr(spec.expr)
    _check_entities(expr, entities)
    _check_receivers(spec.webhooks, receivers)
    needs_positions = uses_near(expr)
    rule = CompiledRule(
        id=spec.id,
        expr=expr,
        severity=spec.severity,
        description=spec.description,
        receivers=tuple(sorted(receivers)) if spec.webhooks is None else tuple(spec.webhooks),
        entities=frozenset(ref.entity for ref in refs(expr)),
        needs_positions=needs_positions,
        on_positions=compile_positions(expr),
        on_mentions=None if needs_positions else compile_mentions(expr),
    )
    if rule.matches({}):
        # The tag agent skips articles with no mentions, and a rule like "NOT x" would alert on
        # nearly every article anyway: demand a positive term.
        raise ValueError(f"expression {render(expr)} matches an article that mentions no entity at all")
    return rule


def _check_entities(expr: Expr, entities: Collection[str]) -> None:
    for ref in refs(expr):
        if ref.entity not in entities:
            raise ValueError(f"unknown entity {ref.entity!r} in expression at column {ref.column}")


def _check_receivers(wanted: Iterable[str] | None, receivers: Collection[str]) -> None:
    for name in wanted or ():
        if name not in receivers:
            raise ValueError(f"unknown webhook receiver {name!r} (not in the webhooks section)")


class RuleError(SpecError):
    """A bad entry in the ``rules`` section."""


class RuleSet:
    """All compiled rules, indexed by entity; picks the cheapest evaluation the rules allow.

    ``compile_rule`` guarantees no rule matches an article without mentions, and a rule depends only
    on its own entities, so a rule none of whose entities is mentioned cannot match: only rules
    indexed under a mentioned entity are evaluated.
    """

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules = tuple(rules)
        self.needs_positions = any(rule.needs_positions for rule in self.rules)
        self.entities = frozenset().union(*(rule.entities for rule in self.rules))
        index: dict[str, list[int]] = {}
        for number, rule in enumerate(self.rules):
            for entity in rule.entities:
                index.setdefault(entity, []).append(number)
        self._by_entity = index

    def candidates(self, mentioned: Iterable[str]) -> list[CompiledRule]:
        """Rules that mention at least one of these entities, in definition order."""
        numbers: set[int] = set()
        for entity in mentioned:
            numbers.update(self._by_entity.get(entity, ()))
        return [self.rules[number] for number in sorted(numbers)]

    def hits(self, positions: Mapping[str, Sequence[int]]) -> list[CompiledRule]:
        mentioned = [entity for entity, tokens in positions.items() if tokens]
        return [rule for rule in self.candidates(mentioned) if rule.matches(positions)]

    def hits_mentioned(self, mentioned: Collection[str]) -> list[CompiledRule]:
        """Fast path when no rule uses NEAR: e.g. the keys of ``Matcher.mentions``."""
        return [rule for rule in self.candidates(mentioned) if rule.matches_mentioned(mentioned)]

    def hits_for_matches(self, matches: Iterable[HasEntityToken]) -> list[CompiledRule]:
        if self.needs_positions:
            return self.hits(positions_of(matches))
        return self.hits_mentioned({match.entity for match in matches})


def positions_of(matches: Iterable[HasEntityToken]) -> dict[str, list[int]]:
    """``entity → sorted first-token indices`` from matcher hits."""
    positions: dict[str, list[int]] = {}
    for match in matches:
        positions.setdefault(match.entity, []).append(match.token)
    for tokens in positions.values():
        tokens.sort()
    return positions


def load_rules(raw: Sequence[Any], entities: Collection[str], receivers: Collection[str]) -> RuleSet:
    """Validate and compile the ``rules`` section; raises RuleError naming the entry and the problem."""
    return RuleSet(
        load_list_section(
            raw, "rules", "rules", RuleError, lambda label, item: _load_rule(label, item, entities, receivers)
        )
    )


def _load_rule(label: str, item: Any, entities: Collection[str], receivers: Collection[str]) -> CompiledRule:
    return load_entry(
        label, item, RuleSpec, lambda spec: compile_rule(spec, entities, receivers), RuleError, "id and expr"
    )
