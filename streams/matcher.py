"""Tokenization and the compiled entity matcher (DESIGN.md "Matching" rules 2-4)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import daachorse

from streams.normalize import first_character, internal_code, internal_form, is_token_char, normalize


def tokenize(text: str) -> list[str]:
    """Normalized tokens of ``text``: maximal runs of letters and digits."""
    tokens: list[str] = []
    current: list[str] = []
    for ch in normalize(text):
        if is_token_char(ch):
            current.append(ch)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


@dataclass(frozen=True, slots=True)
class Match:
    """One counted match: the entity, the watchlist name as written, the index of its first token."""

    entity: str
    name: str
    token: int


def _code(ch: str) -> bytes:
    return bytes((internal_code(ch),))


_CONJUNCTIONS = (b"", _code("و"), _code("ف"))
_PREPOSITIONS_NO_LAM = (b"", _code("ب"), _code("ك"))
_LAM = _code("ل")
_ALEF_LAM = _code("ا") + _LAM
# Proclitic stacks as they appear in the internal form: optional و/ف, then optional ب/ك/ل.
STACKS_WITHOUT_LAM = frozenset(c + p for c in _CONJUNCTIONS for p in _PREPOSITIONS_NO_LAM)
STACKS_ALL = STACKS_WITHOUT_LAM | frozenset(c + _LAM for c in _CONJUNCTIONS)
# ل + ال is written لل: the pattern is the name without its ا, after a stack that ends in ل.
STACKS_LAM_ONLY = frozenset(c + _LAM for c in _CONJUNCTIONS)


@dataclass(frozen=True, slots=True)
class MatcherStats:
    """Names compiled, byte patterns searched (clitic forms included), automaton size in bytes."""

    names: int
    patterns: int
    automaton_bytes: int


@dataclass(frozen=True, slots=True)
class _Name:
    """A compiled watchlist name: its tokens in the internal form and how its first token may look."""

    entity: str
    written: str
    tokens: tuple[bytes, ...]
    arabic: bool  # Arabic names take proclitics on their first token
    definite: bool  # starts with ال: ل attaches only as لل
    anchor: int  # the token searched for; the others are checked around it

    def clitics(self, token: bytes) -> int:
        """Length of the proclitic stack if ``token`` is the first token with clitics, else -1."""
        first = self.tokens[0]
        if token == first:
            return 0
        if not self.arabic:
            return -1
        if token.endswith(first):
            stacks = STACKS_WITHOUT_LAM if self.definite else STACKS_ALL
            stack = token[: len(token) - len(first)]
        elif self.definite and token.endswith(first[1:]):
            stacks = STACKS_LAM_ONLY
            stack = token[: len(token) - len(first) + 1]
        else:
            return -1
        return len(stack) if stack in stacks else -1


class _Target(NamedTuple):
    """What a pattern hit means: which name, how many proclitic letters the pattern starts with, and
    the token that must touch the anchor on each side (empty when none does), also behind a
    two-space separator run: most anchors of multi-token names seen in text are not part of the name,
    and these C-level tests reject them before the Python walk (longer runs are left to the walk)."""

    name_index: int
    tokens: int
    clitics: int
    follow: bytes
    follow_after_two: bytes
    precede: bytes
    precede_before_two: bytes


def _neighbours(name: _Name) -> tuple[bytes, bytes, bytes, bytes]:
    """The _Target fields that test the tokens next to a name's anchor, shared by its patterns."""
    follow = name.tokens[name.anchor + 1] if name.anchor + 1 < len(name.tokens) else b""
    precede = name.tokens[name.anchor - 1] if name.anchor > 0 else b""
    if name.anchor == 1 and name.definite:
        precede = precede[1:]  # للدولة ends in لدولة, not in الدولة
    return follow, b" " + follow, precede, precede + b" "


class _Hit(NamedTuple):
    """A whole-token occurrence of a name; spans are byte offsets in the joined internal text."""

    token_start: int
    end: int  # one past the space after the last token
    clitics: int
    name_index: int
    tokens: int


# Builds a _Hit without the Python-level NamedTuple __new__ (measured: about half the cost per hit).
_new_hit = tuple.__new__


def _is_arabic(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("ARABIC")


def _compile_name(entity: str, written: str, encoded: tuple[bytes, ...]) -> _Name:
    arabic = _is_arabic(first_character(encoded[0]))
    definite = arabic and encoded[0].startswith(_ALEF_LAM) and len(encoded[0]) > len(_ALEF_LAM)
    # Search the longest token (likely the rarest); ties go to the first, which avoids a backward walk.
    anchor = max(range(len(encoded)), key=lambda i: (len(encoded[i]), -i))
    return _Name(entity, written, encoded, arabic, definite, anchor)


def _patterns(name: _Name) -> list[tuple[bytes, int]]:
    """Whole-token byte patterns of a name's anchor token, each with its number of clitic letters.

    Every pattern starts with a space, clitic forms included: the automaton then idles at its root
    inside words. Measured here at 10,000 names this beats one stem pattern per name that may start
    anywhere (checking the clitics before it afterwards) by about 1.5x, although it has 5x the
    patterns.
    """
    anchor = name.tokens[name.anchor]
    if name.anchor > 0 or not name.arabic:
        return [(b" " + anchor + b" ", 0)]
    stacks = STACKS_WITHOUT_LAM if name.definite else STACKS_ALL
    forms = [(stack + anchor, len(stack)) for stack in sorted(stacks)]
    if name.definite:
        # A proclitic never replaces ال: ل attaches only in the assimilated لل form (ل + لموصل).
        forms += [(stack + anchor[1:], len(stack)) for stack in sorted(STACKS_LAM_ONLY)]
    return [(b" " + form + b" ", clitics) for form, clitics in forms]


_SPACE = 0x20


def _skip_spaces_forward(joined: bytes, pos: int) -> int:
    while pos < len(joined) and joined[pos] == _SPACE:
        pos += 1
    return pos


def _skip_spaces_backward(joined: bytes, pos: int) -> int:
    """Position just after the token that ends before ``pos`` (the leading space stops the walk)."""
    while pos > 0 and joined[pos - 1] == _SPACE:
        pos -= 1
    return pos


def _tokens_after(joined: bytes, pos: int, tokens: tuple[bytes, ...]) -> int:
    """End (one past the following space) of ``tokens`` read from ``pos`` on, or -1."""
    for token in tokens:
        pos = _skip_spaces_forward(joined, pos)
        end = pos + len(token)
        if joined[end : end + 1] != b" " or not joined.startswith(token, pos):
            return -1
        pos = end + 1
    return pos


def _tokens_before(joined: bytes, pos: int, tokens: tuple[bytes, ...]) -> int:
    """Start of ``tokens`` read backwards as whole tokens ending before ``pos``, or -1."""
    for token in reversed(tokens):
        end = _skip_spaces_backward(joined, pos)
        pos = end - len(token)
        if pos < 1 or joined[pos - 1] != _SPACE or joined[pos:end] != token:
            return -1
    return pos


_ESCAPE_BYTES = bytes(range(0x80, 0x100))


def _characters(joined: bytes, start: int, end: int) -> int:
    """Token characters in a span of the internal form (rare characters take 3 bytes there)."""
    span = joined[start:end]
    letters = len(span) - span.count(b" ")
    if span.isascii():
        return letters
    escaped = len(span) - len(span.translate(None, _ESCAPE_BYTES))
    return letters - escaped + escaped // 3


def _resolve_cluster(joined: bytes, cluster: list[_Hit]) -> list[_Hit]:
    """Longest match wins within overlapping hits: most tokens, then most characters, then fewest
    clitic characters, then leftmost, then first listed; chosen matches never overlap."""
    if len(cluster) == 1:
        return cluster

    def longest_first(hit: _Hit) -> tuple[int, int, int, int, int]:
        covered = _characters(joined, hit.token_start, hit.end)
        return (-hit.tokens, -covered, hit.clitics, hit.token_start, hit.name_index)

    chosen: list[_Hit] = []
    for hit in sorted(cluster, key=longest_first):
        if all(hit.end <= c.token_start or c.end <= hit.token_start for c in chosen):
            chosen.append(hit)
    return sorted(chosen)


def _select_non_overlapping(joined: bytes, hits: list[_Hit]) -> list[_Hit]:
    """The counted matches in text order: each run of overlapping hits is resolved on its own."""
    hits = sorted(hits)
    previous_end = -1
    for hit in hits:
        if hit.token_start < previous_end:
            break
        previous_end = hit.end
    else:
        return hits  # the usual case: nothing overlaps
    selected: list[_Hit] = []
    cluster: list[_Hit] = []
    cluster_end = -1
    for hit in hits:
        if hit.token_start >= cluster_end and cluster:
            selected += _resolve_cluster(joined, cluster)
            cluster = []
        cluster.append(hit)
        cluster_end = max(cluster_end, hit.end) if len(cluster) > 1 else hit.end
    if cluster:
        selected += _resolve_cluster(joined, cluster)
    return selected


class Matcher:
    """Matches watchlist names in articles; build once, then call ``mentions`` per article."""

    def __init__(self, entities: Mapping[str, Iterable[str]]) -> None:
        """``entities`` maps entity id → names; a name listed twice counts once (first entity wins)."""
        self._names: list[_Name] = []
        pattern_ids: dict[bytes, int] = {}
        self._targets: list[list[_Target]] = []
        for entity, names in entities.items():
            for name in names:
                self._add_name(entity, name, pattern_ids)
        patterns = list(pattern_ids)
        self._automaton = daachorse.DoubleArrayAhoCorasick(patterns) if patterns else None

    def _add_name(self, entity: str, written: str, pattern_ids: dict[bytes, int]) -> None:
        tokens = tuple(internal_form(written).split())  # the same tokens as tokenize(), but fast
        if not tokens:
            raise ValueError(f"name {written!r} of entity {entity!r} has no letters or digits")
        name = _compile_name(entity, written, tokens)
        name_index = len(self._names)
        self._names.append(name)
        neighbours = _neighbours(name)
        for pattern, clitics in _patterns(name):
            if pattern not in pattern_ids:
                pattern_ids[pattern] = len(self._targets)
                self._targets.append([])
            target = _Target(name_index, len(tokens), clitics, *neighbours)
            self._targets[pattern_ids[pattern]].append(target)

    @staticmethod
    def _joined(title: str, body: str) -> bytes:
        return b"".join((b" ", internal_form(title), b" \n ", internal_form(body), b" "))

    def _hits(self, joined: bytes) -> list[_Hit]:
        if self._automaton is None:
            return []
        hits: list[_Hit] = []
        targets = self._targets
        # No pattern is a suffix of another (each is a whole token between spaces), so skipping
        # suffix matches loses nothing and saves the automaton some work.
        for start, end, pattern_id in self._automaton.find_overlapping_no_suffix(joined):
            for target in targets[pattern_id]:
                if target.tokens == 1:
                    hits.append(_new_hit(_Hit, (start + 1, end, target.clitics, target.name_index, 1)))
                    continue
                # The C-level first tests of _Target, inline: a Python call per anchor hit costs more.
                follow, precede = target.follow, target.precede
                if follow and not (
                    joined.startswith(follow, end)
                    or joined.startswith(target.follow_after_two, end)
                    or joined.startswith(b"  ", end)
                ):
                    continue
                if precede and not (
                    joined.endswith(precede, 0, start)
                    or joined.endswith(target.precede_before_two, 0, start)
                    or joined.endswith(b"  ", 0, start)
                ):
                    continue
                hit = self._around_anchor(joined, start + 1, end, target.name_index, target.clitics)
                if hit is not None:
                    hits.append(hit)
        return hits

    def _around_anchor(
        self, joined: bytes, anchor_start: int, anchor_end: int, name_index: int, anchor_clitics: int
    ) -> _Hit | None:
        """The whole multi-token match around an anchor hit, if the other tokens are there."""
        name = self._names[name_index]
        end = _tokens_after(joined, anchor_end, name.tokens[name.anchor + 1 :])
        if end < 0:
            return None
        if name.anchor == 0:
            return _new_hit(_Hit, (anchor_start, end, anchor_clitics, name_index, len(name.tokens)))
        second_start = _tokens_before(joined, anchor_start - 1, name.tokens[1 : name.anchor])
        if second_start < 0:
            return None
        first_end = _skip_spaces_backward(joined, second_start)
        token_start = joined.rfind(b" ", 0, first_end) + 1
        clitics = name.clitics(joined[token_start:first_end])
        if clitics < 0:
            return None
        return _new_hit(_Hit, (token_start, end, clitics, name_index, len(name.tokens)))

    def mentions(self, title: str, body: str) -> dict[str, int]:
        """Entity id → number of matches in title and body (entities without a match are omitted)."""
        joined = self._joined(title, body)
        hits = self._hits(joined)
        counts: dict[str, int] = {}
        if not hits:
            return counts
        names = self._names
        for hit in _select_non_overlapping(joined, hits):
            entity = names[hit.name_index].entity
            counts[entity] = counts.get(entity, 0) + 1
        return counts

    def find(self, title: str, body: str) -> list[Match]:
        """The counted matches in text order, with the index of each one's first token."""
        joined = self._joined(title, body)
        matches: list[Match] = []
        token, counted_to = 0, 0
        for hit in _select_non_overlapping(joined, self._hits(joined)):
            # Tokens between consecutive match starts; bytes.split() also drops the boundary (\n).
            token += len(joined[counted_to : hit.token_start].split())
            counted_to = hit.token_start
            name = self._names[hit.name_index]
            matches.append(Match(name.entity, name.written, token))
        return matches

    def stats(self) -> MatcherStats:
        """Sizes of the compiled matcher, for logs and benchmarks."""
        automaton = len(self._automaton.serialize()) if self._automaton is not None else 0
        return MatcherStats(len(self._names), len(self._targets), automaton)
