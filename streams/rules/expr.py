"""The rule expression tree (entity refs, NOT, AND, OR, NEAR/n) and what can be read off it."""

from __future__ import annotations

from dataclasses import dataclass


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
