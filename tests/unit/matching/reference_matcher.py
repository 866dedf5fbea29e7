"""A slow, obvious token-by-token matcher that the fast streams.matching.matcher is checked against."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streams.matching.normalize import normalize

CONJUNCTIONS = ("", "و", "ف")
PREPOSITIONS = ("", "ب", "ك", "ل")


def reference_tokens(text: str) -> list[str]:
    """Maximal runs of letters, marks and digits of the normal form, found character by character."""
    tokens: list[str] = []
    current = ""
    for ch in normalize(text):
        if unicodedata.category(ch)[0] in "LMN":
            current += ch
        elif current:
            tokens.append(current)
            current = ""
    return [*tokens, current] if current else tokens


def _arabic(name_token: str) -> bool:
    return unicodedata.name(name_token[0], "").startswith("ARABIC")


def _definite(name_token: str) -> bool:
    return name_token.startswith("ال") and len(name_token) > 2


def readings(token: str) -> list[tuple[str, str]]:
    """Every (proclitic stack, bare word) split of a text token, including the لل → ل + ال one."""
    found = [("", token)]
    for conj in CONJUNCTIONS:
        for prep in PREPOSITIONS:
            stack = conj + prep
            if stack and token.startswith(stack) and len(token) > len(stack):
                found.append((stack, token[len(stack) :]))
        assimilated = conj + "لل"
        if token.startswith(assimilated) and len(token) > len(assimilated):
            found.append((conj + "ل", "ال" + token[len(assimilated) :]))
    return found


def stack_allowed(stack: str, token: str, bare: str) -> bool:
    """Whether ``stack`` + ``bare`` (read from ``token``) is a legal proclitic form of ``bare``."""
    if not stack:
        return True
    if not _arabic(bare):
        return False
    if _definite(bare) and stack.endswith("ل"):
        return token == stack[:-1] + "ل" + bare[1:]
    return token == stack + bare


@dataclass(frozen=True)
class Candidate:
    """A whole-token occurrence: token span, characters covered, clitic characters, name."""

    start: int
    end: int
    covered: int
    clitics: int
    order: int


class ReferenceMatcher:
    """Same contract as streams.matching.matcher.Matcher, by scanning tokens one at a time."""

    def __init__(self, entities: Mapping[str, Iterable[str]]) -> None:
        # Distinct names by tokens: (owners, tokens); owners are (entity, first spelling), one per
        # entity listing the name, and a match counts for each of them.
        self.names: list[tuple[list[tuple[str, str]], list[str]]] = []
        self.by_first: dict[str, list[int]] = {}
        index: dict[tuple[str, ...], int] = {}
        for entity, names in entities.items():
            for name in names:
                tokens = reference_tokens(name)
                if tuple(tokens) in index:
                    owners = self.names[index[tuple(tokens)]][0]
                    if entity not in [owner for owner, _ in owners]:
                        owners.append((entity, name))
                    continue
                index[tuple(tokens)] = len(self.names)
                self.by_first.setdefault(tokens[0], []).append(len(self.names))
                self.names.append(([(entity, name)], tokens))

    def _candidates(self, tokens: list[str], offset: int) -> list[Candidate]:
        found = []
        for i, token in enumerate(tokens):
            for stack, bare in readings(token):
                for order in self.by_first.get(bare, []):
                    name_tokens = self.names[order][1]
                    if not stack_allowed(stack, token, bare):
                        continue
                    end = i + len(name_tokens)
                    if tokens[i + 1 : end] == name_tokens[1:]:
                        covered = sum(len(t) for t in tokens[i:end])
                        clitics = len(stack)
                        found.append(Candidate(offset + i, offset + end, covered, clitics, order))
        return found

    def _select(self, candidates: list[Candidate]) -> list[Candidate]:
        ranked = sorted(
            candidates,
            key=lambda c: (-(c.end - c.start), -c.covered, c.clitics, c.start, c.order),
        )
        chosen: list[Candidate] = []
        for cand in ranked:
            if all(cand.end <= c.start or c.end <= cand.start for c in chosen):
                chosen.append(cand)
        return sorted(chosen, key=lambda c: c.start)

    def find(self, title: str, body: str) -> list[tuple[str, str, int]]:
        """(entity, name, first token index) of every counted match, in text order."""
        title_tokens = reference_tokens(title)
        body_tokens = reference_tokens(body)
        candidates = self._candidates(title_tokens, 0) + self._candidates(body_tokens, len(title_tokens))
        return [
            (entity, name, c.start)
            for c in self._select(candidates)
            for entity, name in self.names[c.order][0]
        ]

    def mentions(self, title: str, body: str) -> dict[str, int]:
        """Entity id → number of counted matches."""
        counts: dict[str, int] = {}
        for entity, _name, _token in self.find(title, body):
            counts[entity] = counts.get(entity, 0) + 1
        return counts
