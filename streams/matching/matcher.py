"""Tokenization and the compiled entity matcher (docs/contract.md "Matching" rules 2-4)."""

from __future__ import annotations

import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate, chain, islice
from typing import TypeVar

from streams.matching._scan import Scanner
from streams.matching.normalize import (
    first_character,
    internal_code,
    internal_form,
    is_token_char,
    normalize,
    scan_table,
)


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
    """Names compiled, whole-token patterns looked up (clitic forms included), scanner size in bytes,
    and names listed under more than one entity (each of their matches counts for every one)."""

    names: int
    patterns: int
    scanner_bytes: int
    shared_names: int = 0


# (entity, name as written by it): who a compiled name counts for, in listing order, one per entity.
Owners = tuple[tuple[str, str], ...]


_RULE_NONE, _RULE_ARABIC, _RULE_DEFINITE = 0, 1, 2
# Stack sets in the scanner's order (STACKS_* in _scan.c).
_STACK_SETS = (STACKS_ALL, STACKS_WITHOUT_LAM, STACKS_LAM_ONLY)

# A match as the scanner reports it, overlapping ones included: (token start, end, proclitic bytes,
# name index, tokens); start and end are byte offsets in the article's joined internal form, end one
# past the space after the match.
_Hit = tuple[int, int, int, int, int]
_SCAN_TABLE = scan_table()
_T = TypeVar("_T")


def _is_arabic(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("ARABIC")


class _ScriptOfFirst:
    """Whether a token starts with an Arabic letter, memoised on its first character's bytes (a
    lexicon has a million names but a few hundred first characters)."""

    def __init__(self) -> None:
        self._arabic: dict[bytes, bool] = {}

    def arabic(self, token: bytes) -> bool:
        key = token[:1] if token[0] < 0x80 else token[:3]
        known = self._arabic.get(key)
        if known is None:
            known = self._arabic[key] = _is_arabic(first_character(token))
        return known


def _anchor(tokens: tuple[bytes, ...], names_with: Mapping[bytes, int]) -> int:
    """The token to look up: the one in the fewest watchlist names, then the longest, then the first.

    Every text occurrence of the anchor compares the tokens around it for each name it anchors, so a
    token shared by thousands of names (a given name in a lexicon: Khalid, عبد) must not be one.
    """
    best, best_key = 0, (names_with[tokens[0]], -len(tokens[0]))
    for index in range(1, len(tokens)):
        key = (names_with[tokens[index]], -len(tokens[index]))
        if key < best_key:
            best, best_key = index, key
    return best


# Work on a million names is cut into slices of this many items: a single C-level call over all of
# them (Counter.update, array()) holds the GIL for ~0.1-0.3 s, which stalls the event loop of a
# worker compiling a new watchlist in a thread (streams.watchlist.reload); a slice takes ~1 ms.
_SLICE = 20_000


def _slices(items: list[_T]) -> Iterator[list[_T]]:
    for start in range(0, len(items), _SLICE):
        yield items[start : start + _SLICE]


def _drain_list(items: list[_T]) -> None:
    """Empty a big list a slice at a time (one `del` of it frees everything in one C cascade)."""
    while items:
        del items[-_SLICE:]


def _drain_dict(items: dict[bytes, list[int]]) -> None:
    while items:
        for key in list(islice(items, _SLICE)):
            del items[key]


def _words(values: Iterable[int]) -> array[int]:
    """An array of uint32, filled a slice at a time (see _SLICE)."""
    words = array("I")
    iterator = iter(values)
    while chunk := list(islice(iterator, _SLICE)):
        words.extend(chunk)
    return words


class _CompiledNames:
    """The distinct watchlist names as parallel lists (a million names: no object per name)."""

    def __init__(self, owners: dict[bytes, Owners]) -> None:
        self.tokens = [tuple(form.split()) for form in owners]
        self.owners = list(owners.values())
        names_with: Counter[bytes] = Counter()
        for chunk in _slices(self.tokens):
            names_with.update(chain.from_iterable(chunk))
        script = _ScriptOfFirst()
        self.arabic = [script.arabic(tokens[0]) for tokens in self.tokens]
        self.definite = [
            arabic and tokens[0].startswith(_ALEF_LAM) and len(tokens[0]) > len(_ALEF_LAM)
            for arabic, tokens in zip(self.arabic, self.tokens, strict=True)
        ]
        self.anchors = [0 if len(tokens) == 1 else _anchor(tokens, names_with) for tokens in self.tokens]

    def __len__(self) -> int:
        return len(self.tokens)

    def rules(self) -> list[int]:
        """Which proclitic stacks the scanner allows on each name's first token (RULE_* in _scan.c)."""
        return [
            _RULE_DEFINITE if definite else _RULE_ARABIC if arabic else _RULE_NONE
            for arabic, definite in zip(self.arabic, self.definite, strict=True)
        ]


_SORTED_ALL = tuple((stack, len(stack)) for stack in sorted(STACKS_ALL))
_SORTED_WITHOUT_LAM = tuple((stack, len(stack)) for stack in sorted(STACKS_WITHOUT_LAM))
_SORTED_LAM_ONLY = tuple((stack, len(stack)) for stack in sorted(STACKS_LAM_ONLY))


def _clitic_patterns(anchor: bytes, definite: bool) -> list[tuple[bytes, int]]:
    """Whole-token forms of a name's anchor token when it is the name's first token and Arabic, each
    with its number of clitic letters (other anchors are looked up as they are).

    Every clitic form is a pattern of its own: one hash lookup per text token then finds the stem with
    any proclitic stack (measured: cheaper than stripping candidate stacks off every text token).
    """
    if not definite:
        return [(stack + anchor, clitics) for stack, clitics in _SORTED_ALL]
    # A proclitic never replaces ال: ل attaches only in the assimilated لل form (ل + لموصل).
    bare = anchor[1:]
    return [(stack + anchor, clitics) for stack, clitics in _SORTED_WITHOUT_LAM] + [
        (stack + bare, clitics) for stack, clitics in _SORTED_LAM_ONLY
    ]


def _stack_code(stack: bytes) -> int:
    """A proclitic stack as _scan.c's stack_code() packs it: length, then its bytes."""
    return len(stack) | int.from_bytes(stack, "little") << 8


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
        token_start, end, clitics, name_index, tokens = hit
        return (-tokens, -_characters(joined, token_start, end), clitics, token_start, name_index)

    chosen: list[_Hit] = []
    for hit in sorted(cluster, key=longest_first):
        if all(hit[1] <= c[0] or c[1] <= hit[0] for c in chosen):
            chosen.append(hit)
    return sorted(chosen)


def _select_non_overlapping(joined: bytes, hits: list[_Hit]) -> list[_Hit]:
    """The counted matches in text order: each run of overlapping hits is resolved on its own."""
    hits.sort()
    previous_end = -1
    for hit in hits:
        if hit[0] < previous_end:
            break
        previous_end = hit[1]
    else:
        return hits  # the usual case: nothing overlaps
    selected: list[_Hit] = []
    cluster: list[_Hit] = []
    cluster_end = -1
    for hit in hits:
        if hit[0] >= cluster_end and cluster:
            selected += _resolve_cluster(joined, cluster)
            cluster = []
        cluster.append(hit)
        cluster_end = max(cluster_end, hit[1]) if len(cluster) > 1 else hit[1]
    if cluster:
        selected += _resolve_cluster(joined, cluster)
    return selected


class _Tables:
    """The compiled watchlist as the C scanner takes it: patterns, and per pattern the names it may
    start, their tokens and the proclitic stacks they allow (see streams/_scan.c)."""

    def __init__(self, names: _CompiledNames) -> None:
        counts = [len(tokens) for tokens in names.tokens]
        flat = [token for tokens in names.tokens for token in tokens]
        lengths = [len(token) for token in flat]
        # One join of a million tokens holds the GIL for 100+ ms (measured): a slice at a time.
        token_bytes = bytearray()
        for chunk in _slices(flat):
            token_bytes += b"".join(chunk)
        self.token_bytes = bytes(token_bytes)
        # accumulate(..., initial=0) yields one offset more than there are items: zip drops the last.
        offsets = accumulate(lengths, initial=0)
        self.token_spans = _words(chain.from_iterable(zip(offsets, lengths, strict=False)))
        first_tokens = accumulate(counts, initial=0)
        rows = zip(first_tokens, counts, names.anchors, names.rules(), strict=False)
        self.names = _words(chain.from_iterable(rows))
        self.patterns, self.pattern_targets, self.targets = self._pattern_tables(names)
        self.stacks = array("I")
        for index, stacks in enumerate(_STACK_SETS):
            for stack in sorted(stacks):
                self.stacks.extend((index, _stack_code(stack)))

    @staticmethod
    def _pattern_tables(names: _CompiledNames) -> tuple[list[bytes], array[int], array[int]]:
        """Patterns, and per pattern its (first target, count), and the (name, clitics) targets."""
        targets: dict[bytes, list[int]] = {}  # pattern -> flat (name, clitics) pairs
        for index, (tokens, anchor, arabic, definite) in enumerate(
            zip(names.tokens, names.anchors, names.arabic, names.definite, strict=True)
        ):
            if anchor or not arabic:  # one pattern: the common case, kept short
                pairs = targets.get(tokens[anchor])
                if pairs is None:
                    targets[tokens[anchor]] = [index, 0]
                else:
                    pairs += (index, 0)
                continue
            for pattern, clitics in _clitic_patterns(tokens[0], definite):
                targets.setdefault(pattern, []).extend((index, clitics))
        sizes = [len(pairs) // 2 for pairs in targets.values()]
        firsts = accumulate(sizes, initial=0)
        pattern_targets = _words(chain.from_iterable(zip(firsts, sizes, strict=False)))
        words = _words(chain.from_iterable(targets.values()))
        patterns = list(targets)
        _drain_dict(targets)
        return patterns, pattern_targets, words

    def scanner(self) -> Scanner:
        return Scanner(
            _SCAN_TABLE, self.patterns, self.pattern_targets, self.targets, self.names,
            self.token_spans, self.token_bytes, self.stacks,
        )  # fmt: skip


# A name to compile: (entity, name as written, its internal form: normalized tokens joined by spaces).
NameForm = tuple[str, str, bytes]


def _owners_by_form(names: Iterable[NameForm]) -> dict[bytes, Owners]:
    """Distinct names (by internal form), each with the entities listing it; an entity's first
    spelling is kept (أردوغان before اردوغان: one compiled name that reports the spelling listed first)."""
    owners: dict[bytes, Owners] = {}
    for entity, written, form in names:
        listed = owners.get(form)
        if listed is None:
            if not form:
                raise ValueError(f"name {written!r} of entity {entity!r} has no letters or digits")
            owners[form] = ((entity, written),)
        elif all(owner != entity for owner, _ in listed):
            owners[form] = (*listed, (entity, written))
    return owners


def canonical_form(name: str) -> bytes:
    """A name's internal form with its tokens joined by one space: equal for names that match alike."""
    return b" ".join(internal_form(name).split())


class Matcher:
    """Matches watchlist names in articles; build once, then call ``mentions`` per article.

    A name listed under several entities is compiled once and each of its matches counts for every
    one of them (docs/contract.md "Matching" rule 4); within one entity, spellings that normalize alike
    count once.
    """

    def __init__(self, entities: Mapping[str, Iterable[str]]) -> None:
        """``entities`` maps entity id → names."""
        self._compile(
            (entity, written, canonical_form(written))
            for entity, names in entities.items()
            for written in names
        )

    @classmethod
    def from_forms(cls, names: Iterable[NameForm]) -> Matcher:
        """A matcher from names whose canonical forms (``canonical_form``) are known already (the
        watchlist loader computes them while validating)."""
        matcher = cls.__new__(cls)
        matcher._compile(names)
        return matcher

    def _compile(self, names: Iterable[NameForm]) -> None:
        self._names = _CompiledNames(_owners_by_form(names))
        self._owners = self._names.owners
        self._shared = sum(len(owners) > 1 for owners in self._owners)
        self._entities_of = [
            (owners[0][0],) if len(owners) == 1 else tuple(entity for entity, _ in owners)
            for owners in self._owners
        ]
        tables = _Tables(self._names)
        self._pattern_count = len(tables.patterns)
        self._scanner = tables.scanner()  # copies what it needs
        _drain_list(tables.patterns)

    def _scan(self, title: str, body: str) -> tuple[bytes, list[_Hit]]:
        """The joined internal form of an article and every whole-name match in it."""
        scanned = self._scanner.scan(title, body)
        if scanned is not None:
            return scanned
        # A character the scanner's table lacks (rare scripts, presentation forms): normalize in Python.
        joined = b"".join((b" ", internal_form(title), b" \n ", internal_form(body), b" "))
        return joined, self._scanner.find(joined)

    def mentions(self, title: str, body: str) -> dict[str, int]:
        """Entity id → number of matches in title and body (entities without a match are omitted)."""
        return self.mentions_and_form(title, body)[0]

    def mentions_and_form(self, title: str, body: str) -> tuple[dict[str, int], bytes]:
        """`mentions`, and the article's joined internal form (the story sketch reads it)."""
        joined, hits = self._scan(title, body)
        counts: dict[str, int] = {}
        if not hits:
            return counts, joined
        entities_of = self._entities_of
        for hit in _select_non_overlapping(joined, hits):
            for entity in entities_of[hit[3]]:
                counts[entity] = counts.get(entity, 0) + 1
        return counts, joined

    def find(self, title: str, body: str) -> list[Match]:
        """The counted matches in text order, with the index of each one's first token."""
        return self.find_and_form(title, body)[0]

    def find_and_form(self, title: str, body: str) -> tuple[list[Match], bytes]:
        """`find`, and the article's joined internal form (the story sketch reads it)."""
        joined, hits = self._scan(title, body)
        matches: list[Match] = []
        token, counted_to = 0, 0
        for token_start, _end, _clitics, name_index, _tokens in _select_non_overlapping(joined, hits):
            # Tokens between consecutive match starts; bytes.split() also drops the boundary (\n).
            token += len(joined[counted_to:token_start].split())
            counted_to = token_start
            matches += (Match(entity, written, token) for entity, written in self._owners[name_index])
        return matches, joined

    def stats(self) -> MatcherStats:
        """Sizes of the compiled matcher, for logs and benchmarks."""
        return MatcherStats(len(self._names), self._pattern_count, self._scanner.memory(), self._shared)

    def dismantle(self, step: int = 10_000) -> None:
        """Free the per-name tables a slice at a time; for a thread, once nothing uses this matcher.

        Freeing a million names in one go is one C-level cascade that holds the GIL for ~1 s, which
        would stall the event loop of a worker that just swapped in a new watchlist.
        """
        names = self._names
        for items in (
            names.tokens,
            names.owners,
            names.arabic,
            names.definite,
            names.anchors,
            self._entities_of,
        ):
            while items:
                del items[-step:]

    def shared_names(self, limit: int) -> list[Owners]:
        """Up to ``limit`` names listed under several entities, each as its (entity, name) owners."""
        return list(islice((owners for owners in self._owners if len(owners) > 1), limit))
