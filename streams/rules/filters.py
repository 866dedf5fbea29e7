"""Rule filters (``in``, ``min_mentions``, ``lang``, ``sources``, ``not_sources``): parsed once, applied per article."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from streams.model.validation import describe_validation_error
from streams.rules.error import RuleError
from streams.rules.expr import Expr, refs

FILTER_KEYS = ("in", "min_mentions", "lang", "sources", "not_sources")
Scope = Literal["title", "any"]
Lang = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}$")]
Source = Annotated[str, StringConstraints(min_length=1)]
MIN_MENTIONS_HINT = "write a whole number ≥ 1, or a mapping of entity id to a whole number ≥ 1"


class RuleFilterSpec(BaseModel):
    """The filter keys of one ``rules`` entry (docs/alertmanager.md, "Rule filters")."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    scope: Scope = Field(default="any", alias="in")
    min_mentions: int | dict[str, int] | None = None
    lang: list[Lang] | None = Field(default=None, min_length=1)
    sources: list[Source] | None = Field(default=None, min_length=1)
    not_sources: list[Source] | None = Field(default=None, min_length=1)

    @field_validator("min_mentions", mode="before")
    @classmethod
    def _whole_counts(cls, value: Any) -> Any:
        counts = value.values() if isinstance(value, Mapping) else [value]
        if value is not None and not all(_is_count(count) for count in counts):
            raise ValueError(MIN_MENTIONS_HINT)
        return value


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True, slots=True)
class RuleFilter:
    """A validated filter: a gate on the article's language and source, and a view of its mentions.

    ``view`` narrows the mentions a rule's expression sees: to the title's tokens (``in: title``),
    and to the entities mentioned at least their ``min_mentions`` times there; every term of the
    expression, also under NOT and in NEAR, then reads that view.
    """

    scope: Scope = "any"
    min_mentions: Mapping[str, int] | None = None
    langs: frozenset[str] | None = None
    sources: frozenset[str] | None = None
    not_sources: frozenset[str] = frozenset()

    @property
    def narrows_mentions(self) -> bool:
        """True when the rule needs token positions (or per-entity counts), not just the mentioned set."""
        return self.scope == "title" or bool(self.min_mentions)

    def admits(self, lang: str, source: str) -> bool:
        """Language (primary subtag, case-insensitive: ``ar-EG`` is ``ar``) and source allowed."""
        if self.langs is not None and primary_language(lang) not in self.langs:
            return False
        if self.sources is not None and source not in self.sources:
            return False
        return source not in self.not_sources

    def view(self, positions: Mapping[str, Sequence[int]], title_tokens: int) -> dict[str, list[int]]:
        """``entity → first-token indices`` that count for the rule; the token stream is the title's
        ``title_tokens`` tokens, then the body's (the matcher's count: ``len(internal_form(title).split())``)."""
        seen: dict[str, list[int]] = {}
        for entity, tokens in positions.items():
            kept = [t for t in tokens if t < title_tokens] if self.scope == "title" else list(tokens)
            if kept and len(kept) >= self.threshold(entity):
                seen[entity] = kept
        return seen

    def threshold(self, entity: str) -> int:
        return (self.min_mentions or {}).get(entity, 1)


NO_FILTER = RuleFilter()


def primary_language(tag: str) -> str:
    return tag.split("-", 1)[0].split("_", 1)[0].lower()


def split_filter_keys(item: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ``rules`` entry split into its rule keys and its filter keys (the hook for streams.rules.rule)."""
    rule = {key: value for key, value in item.items() if key not in FILTER_KEYS}
    filters = {key: value for key, value in item.items() if key in FILTER_KEYS}
    return rule, filters


def load_rule_filter(label: str, raw: Mapping[str, Any], expr: Expr) -> RuleFilter:
    """Validate the filter keys of the rule ``label``; raises RuleError naming the entry and the problem."""
    if not raw:
        return NO_FILTER
    try:
        spec = RuleFilterSpec.model_validate(raw)
    except ValidationError as exc:
        raise RuleError(label, describe_validation_error(exc)) from None
    try:
        return compile_filter(spec, expr)
    except ValueError as exc:
        raise RuleError(label, str(exc)) from None


def compile_filter(spec: RuleFilterSpec, expr: Expr) -> RuleFilter:
    """The filter of a rule whose expression is ``expr``; raises ValueError without the entry name."""
    _check_sources_disjoint(spec.sources or (), spec.not_sources or ())
    return RuleFilter(
        scope=spec.scope,
        min_mentions=_thresholds(spec.min_mentions, expr),
        langs=None if spec.lang is None else frozenset(primary_language(tag) for tag in spec.lang),
        sources=None if spec.sources is None else frozenset(spec.sources),
        not_sources=frozenset(spec.not_sources or ()),
    )


def _thresholds(raw: int | dict[str, int] | None, expr: Expr) -> dict[str, int] | None:
    """One number applies to every entity of the expression; a mapping names entities of it."""
    entities = [ref.entity for ref in refs(expr)]
    if raw is None:
        return None
    if isinstance(raw, int):
        return dict.fromkeys(entities, raw)
    _check_in_expression(raw, entities)
    return dict(raw)


def _check_in_expression(thresholds: Mapping[str, int], entities: Collection[str]) -> None:
    for entity in thresholds:
        if entity not in entities:
            raise ValueError(f"min_mentions: entity {entity!r} is not in the expression")


def _check_sources_disjoint(sources: Collection[str], not_sources: Collection[str]) -> None:
    both = sorted(set(sources) & set(not_sources))
    if both:
        raise ValueError(f"source {both[0]!r} is in both sources and not_sources")
