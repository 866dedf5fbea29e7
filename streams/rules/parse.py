"""Rule expressions from text: tokenizer and recursive-descent parser, errors with the column."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from streams.rules.expr import And, Expr, ExprSyntaxError, Near, Not, Or, Ref

MAX_NESTING = 64
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
