"""Per-article boolean rules over entity ids: parse once, validate, evaluate cheaply per article."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from streams.model.alert import Alert, Evidence, Severity, rule_alert_id
from streams.model.article import Article
from streams.model.spec import SpecError, SpecId, load_list_section
from streams.model.validation import describe_validation_error

MAX_NESTING = 64

PositionsPredicate = Callable[[Mapping[str, Sequence[int]]], bool]
MentionsPredicate = Callable[[Container[str]], bool]


# --- syntax tree ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ref:
    """An entity id in an expression; ``column`` (1-based) is where it was written."""

    entity: str
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Near:
    left: Ref
    right: Ref
    distance: int


Expr = Ref | Not | And | Or | Near


class ExprSyntaxError(ValueError):
    """A rule expression that does not parse; ``column`` is 1-based."""

    def __init__(self, column: int, problem: str) -> None:
        super().__init__(f"syntax error at column {column}: {problem}")
        self.column = column
        self.problem = problem


# --- tokenizer -----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"(?P<space>\s+)|(?P<paren>[()])|(?P<word>[A-Za-z0-9_-]+(?:/[^\s()]*)?)|(?P<other>.)")
_ENTITY = re.compile(r"^[a-z0-9_-]+$")
_OPERATORS = ("AND", "OR", "NOT")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", "AND", "OR", "NOT", "NEAR", "ENTITY", "END"
    text: str
    column: int
    distance: int = 0


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    for found in _TOKEN.finditer(text):
        column = found.start() + 1
        if found.lastgroup == "paren":
            tokens.append(_Token(found.group(), found.group(), column))
        elif found.lastgroup == "word":
            tokens.append(_classify_word(found.group(), column))
        elif found.lastgroup == "other":
            raise ExprSyntaxError(column, f"unexpected character {found.group()!r}")
    tokens.append(_Token("END", "end of expression", len(text) + 1))
    return tokens


def _classify_word(word: str, column: int) -> _Token:
    if word in _OPERATORS:
        return _Token(word, word, column)
    if word.startswith("NEAR"):
        return _Token("NEAR", word, column, _near_distance(word, column))
    if "/" in word:
        raise ExprSyntaxError(column + word.index("/"), f"unexpected '/' in {word!r} (only NEAR/n has one)")
    if _ENTITY.match(word):
        return _Token("ENTITY", word, column)
    raise ExprSyntaxError(
        column, f"{word!r} is neither an entity id (lower-case [a-z0-9_-]) nor AND, OR, NOT, NEAR/n"
    )


def _near_distance(word: str, column: int) -> int:
    digits = word[len("NEAR/") :] if word.startswith("NEAR/") else ""
    if not digits.isdigit() or not digits.isascii():
        raise ExprSyntaxError(column, f"{word!r}: write NEAR/n with a whole number of tokens, e.g. NEAR/5")
    if int(digits) < 1:
        raise ExprSyntaxError(column, "NEAR distance must be at least 1")
    return int(digits)


# --- parser --------------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the grammar in the module docstring."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.at = 0
        self.depth = 0

    @property
    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def parse(self) -> Expr:
        if self.peek.kind == "END":
            raise ExprSyntaxError(self.peek.column, "empty expression")
        expr = self.parse_or()
        if self.peek.kind != "END":
            raise self.unexpected("AND, OR, NEAR/n or the end of the expression")
        return expr

    def parse_or(self) -> Expr:
        operands = [self.parse_and()]
        while self.peek.kind == "OR":
            self.take()
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self) -> Expr:
        operands = [self.parse_near()]
        while self.peek.kind == "AND":
            self.take()
            operands.append(self.parse_near())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_near(self) -> Expr:
        left = self.parse_unary()
        if self.peek.kind != "NEAR":
            return left
        near = self.take()
        right_column = self.peek.column
        right = self.parse_unary()
        if self.peek.kind == "NEAR":
            raise ExprSyntaxError(self.peek.column, "NEAR cannot be chained; join NEAR pairs with AND")
        if not isinstance(left, Ref) or not isinstance(right, Ref):
            column = near.column if not isinstance(left, Ref) else right_column
            raise ExprSyntaxError(column, f"{near.text} needs an entity id on each side")
        return Near(left, right, near.distance)

    def parse_unary(self) -> Expr:
        if self.peek.kind == "NOT":
            self.take()
            return Not(self.nested(self.parse_unary))
        return self.parse_atom()

    def parse_atom(self) -> Expr:
        token = self.take()
        if token.kind == "ENTITY":
            return Ref(token.text, token.column)
        if token.kind == "(":
            inner = self.nested(self.parse_or)
            if self.peek.kind != ")":
                raise self.unexpected(f"')' to close the '(' at column {token.column}")
            self.take()
            return inner
        self.at -= 1
        raise self.unexpected("an entity id, NOT or '('")

    def nested(self, parse: Callable[[], Expr]) -> Expr:
        # Bounded so that a pathological expression gives a clear error instead of a RecursionError.
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExprSyntaxError(self.peek.column, f"nested deeper than {MAX_NESTING} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    def unexpected(self, wanted: str) -> ExprSyntaxError:
        token = self.peek
        found = token.text if token.kind == "END" else repr(token.text)
        hint = " (operators are upper-case)" if token.text.upper() in (*_OPERATORS, "NEAR") else ""
        return ExprSyntaxError(token.column, f"expected {wanted}, found {found}{hint}")


def parse_expr(text: str) -> Expr:
    """The syntax tree of a rule expression; raises ExprSyntaxError naming the column.

    Grammar, loosest binding first (so the precedence is NOT > NEAR > AND > OR)::

        expr  := and ("OR" and)*
        and   := near ("AND" near)*
        near  := unary ["NEAR/n" unary]        both sides must be entity ids; no chaining
        unary := "NOT" unary | atom
        atom  := ENTITY_ID | "(" expr ")"

    ``a OR b AND NOT c`` reads ``a OR (b AND (NOT c))``. Operators are upper-case; entity ids are
    lower-case ``[a-z0-9_-]+``, so ``and`` is an entity id, not an operator. ``a NEAR/n b`` holds
    when some mention of ``a`` and some mention of ``b`` start at most ``n`` tokens apart (token =
    index in the article's token stream, title then body); ``a NEAR/n a`` needs two distinct mentions.
    """
    return _Parser(text).parse()


# --- inspection ----------------------------------------------------------------------------------------


def refs(expr: Expr) -> list[Ref]:
    """Every entity reference, in the order written."""
    match expr:
        case Ref():
            return [expr]
        case Not(operand=operand):
            return refs(operand)
        case And(operands=operands) | Or(operands=operands):
            return [ref for operand in operands for ref in refs(operand)]
        case Near(left=left, right=right):
            return [left, right]


def uses_near(expr: Expr) -> bool:
    match expr:
        case Ref():
            return False
        case Not(operand=operand):
            return uses_near(operand)
        case And(operands=operands) | Or(operands=operands):
            return any(uses_near(operand) for operand in operands)
        case Near():
            return True


def render(expr: Expr) -> str:
    """Canonical text with every group parenthesized: shows how precedence was applied."""
    match expr:
        case Ref(entity=entity):
            return entity
        case Not(operand=operand):
            return f"NOT {render(operand)}"
        case And(operands=operands):
            return "(" + " AND ".join(render(operand) for operand in operands) + ")"
        case Or(operands=operands):
            return "(" + " OR ".join(render(operand) for operand in operands) + ")"
        case Near(left=left, right=right, distance=distance):
            return f"({left.entity} NEAR/{distance} {right.entity})"


# --- evaluation ----------------------------------------------------------------------------------------


def within(first: Sequence[int], second: Sequence[int], distance: int) -> bool:
    """Some pair (one from each sorted list) at most ``distance`` apart; linear two-pointer walk."""
    i = j = 0
    while i < len(first) and j < len(second):
        if abs(first[i] - second[j]) <= distance:
            return True
        if first[i] < second[j]:
            i += 1
        else:
            j += 1
    return False


def within_self(positions: Sequence[int], distance: int) -> bool:
    """Two distinct mentions at most ``distance`` apart (neighbours suffice in a sorted list)."""
    return any(later - earlier <= distance for earlier, later in pairwise(positions))


def compile_positions(expr: Expr) -> PositionsPredicate:
    """A predicate over ``entity → sorted first-token indices`` (absent or empty = not mentioned)."""
    match expr:
        case Ref(entity=entity):
            return lambda positions: bool(positions.get(entity))
        case Not(operand=operand):
            inner = compile_positions(operand)
            return lambda positions: not inner(positions)
        case And(operands=operands):
            parts = tuple(compile_positions(operand) for operand in operands)
            return lambda positions: all(part(positions) for part in parts)
        case Or(operands=operands):
            parts = tuple(compile_positions(operand) for operand in operands)
            return lambda positions: any(part(positions) for part in parts)
        case Near(left=left, right=right, distance=distance):
            return _compile_near(left.entity, right.entity, distance)


def _compile_near(left: str, right: str, distance: int) -> PositionsPredicate:
    if left == right:
        return lambda positions: within_self(positions.get(left, ()), distance)
    return lambda positions: within(positions.get(left, ()), positions.get(right, ()), distance)


def compile_mentions(expr: Expr) -> MentionsPredicate:
    """The fast path: a predicate over the set of mentioned entities; only for NEAR-free expressions."""
    match expr:
        case Ref(entity=entity):
            return lambda mentioned: entity in mentioned
        case Not(operand=operand):
            inner = compile_mentions(operand)
            return lambda mentioned: not inner(mentioned)
        case And(operands=operands):
            parts = tuple(compile_mentions(operand) for operand in operands)
            return lambda mentioned: all(part(mentioned) for part in parts)
        case Or(operands=operands):
            parts = tuple(compile_mentions(operand) for operand in operands)
            return lambda mentioned: any(part(mentioned) for part in parts)
        case Near():
            raise ValueError("a NEAR expression needs token positions, not just the mentioned set")


# --- rule specs and compiled rules ---------------------------------------------------------------------


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
    if not isinstance(item, Mapping):
        raise RuleError(label, "must be a mapping with id and expr")
    try:
        spec = RuleSpec.model_validate(item)
    except ValidationError as exc:
        raise RuleError(label, describe_validation_error(exc)) from None
    try:
        return compile_rule(spec, entities, receivers)
    except ValueError as exc:
        raise RuleError(label, str(exc)) from None
