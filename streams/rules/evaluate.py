"""Rule expressions compiled to predicates over an article's mentions or token positions."""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from itertools import pairwise

from streams.rules.expr import And, Expr, Near, Not, Or, Ref

PositionsPredicate = Callable[[Mapping[str, Sequence[int]]], bool]
MentionsPredicate = Callable[[Container[str]], bool]


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
