"""The watchlist's rules section: rule specs, compiled rules and the per-article RuleSet."""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from streams.model.alert import Alert, Evidence, Severity, rule_alert_id
from streams.model.article import Article
from streams.model.spec import SpecId, load_list_section
from streams.model.validation import describe_validation_error
from streams.rules.error import RuleError
from streams.rules.evaluate import MentionsPredicate, PositionsPredicate, compile_mentions, compile_positions
from streams.rules.expr import Expr, refs, render, uses_near
from streams.rules.filters import NO_FILTER, RuleFilter, load_rule_filter, split_filter_keys
from streams.rules.parse import parse_expr

__all__ = ["ArticleFacts", "CompiledRule", "RuleError", "RuleSet", "RuleSpec", "compile_rule", "load_rules"]


class RuleSpec(BaseModel):
    """One entry of the watchlist's ``rules`` section (see docs/watchlist.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SpecId
    expr: str
    severity: Severity = "warning"
    description: str = ""
    # None = every receiver in the ``webhooks`` section; [] = none (the alert still goes on news.alerts).
    webhooks: list[str] | None = None
    # One alert per story and rule (later copies join its evidence), or one per matching article.
    per: Literal["story", "article"] = "story"


@dataclass(frozen=True, slots=True)
class ArticleFacts:
    """What rule filters read of an article besides its mentions."""

    lang: str = ""
    source: str = ""
    title_tokens: int = 0  # the matcher's token count of the title (``in: title``)


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
    filter: RuleFilter = NO_FILTER  # in, min_mentions, lang, sources, not_sources
    per: Literal["story", "article"] = "story"

    @property
    def needs_positions_to_filter(self) -> bool:
        return self.needs_positions or self.filter.narrows_mentions

    def matches(self, positions: Mapping[str, Sequence[int]], facts: ArticleFacts | None = None) -> bool:
        """The expression on the mentions the filter lets through (all of them without ``facts``)."""
        if facts is None:
            return self.on_positions(positions)
        if not self.filter.admits(facts.lang, facts.source):
            return False
        if self.filter.narrows_mentions:
            return self.on_positions(self.filter.view(positions, facts.title_tokens))
        return self.on_positions(positions)

    def matches_mentioned(self, mentioned: Container[str], facts: ArticleFacts | None = None) -> bool:
        if self.on_mentions is None or self.filter.narrows_mentions:
            raise ValueError(
                f"rule {self.id!r} uses NEAR, in: title or min_mentions and needs token positions"
            )
        if facts is not None and not self.filter.admits(facts.lang, facts.source):
            return False
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


def compile_rule(
    spec: RuleSpec, entities: Collection[str], receivers: Collection[str], rule_filter: RuleFilter = NO_FILTER
) -> CompiledRule:
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
        filter=rule_filter,
        per=spec.per,
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


class RuleSet:
    """All compiled rules, indexed by entity; picks the cheapest evaluation the rules allow.

    ``compile_rule`` guarantees no rule matches an article without mentions, and a rule depends only
    on its own entities, so a rule none of whose entities is mentioned cannot match: only rules
    indexed under a mentioned entity are evaluated.
    """

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules = tuple(rules)
        self.needs_positions = any(rule.needs_positions_to_filter for rule in self.rules)
        self.scopes_title = any(rule.filter.scope == "title" for rule in self.rules)
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

    def hits(
        self, positions: Mapping[str, Sequence[int]], facts: ArticleFacts | None = None
    ) -> list[CompiledRule]:
        mentioned = [entity for entity, tokens in positions.items() if tokens]
        return [rule for rule in self.candidates(mentioned) if rule.matches(positions, facts)]

    def hits_mentioned(
        self, mentioned: Collection[str], facts: ArticleFacts | None = None
    ) -> list[CompiledRule]:
        """Fast path when no rule needs positions: e.g. the keys of ``Matcher.mentions``."""
        return [rule for rule in self.candidates(mentioned) if rule.matches_mentioned(mentioned, facts)]

    def hits_for_matches(
        self, matches: Iterable[HasEntityToken], facts: ArticleFacts | None = None
    ) -> list[CompiledRule]:
        """``facts`` (language, source, title length) lets the rules' filters apply; without it none does."""
        if self.needs_positions:
            return self.hits(positions_of(matches), facts)
        return self.hits_mentioned({match.entity for match in matches}, facts)


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
    if not isinstance(item, Mapping):
        raise RuleError(label, "must be a mapping with id and expr")
    rule_keys, filter_keys = split_filter_keys(item)
    try:
        spec = RuleSpec.model_validate(rule_keys)
    except ValidationError as exc:
        raise RuleError(label, describe_validation_error(exc)) from None
    try:
        expr = parse_expr(spec.expr)
    except ValueError as exc:
        raise RuleError(label, str(exc)) from None
    rule_filter = load_rule_filter(label, filter_keys, expr)
    try:
        return compile_rule(spec, entities, receivers, rule_filter)
    except ValueError as exc:
        raise RuleError(label, str(exc)) from None
