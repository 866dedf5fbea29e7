"""Tagging benchmark: matcher throughput vs the UTF-8 encode ceiling, build cost, reference agreement.

Run: .venv/bin/python tests/bench/tagging.py [--mb 20] [--no-check] [--sizes 10,1000,10000,100000,1000000]
Rows up to 10,000 names are generated words; the 100,000 and 1,000,000-name rows are the seed world
plus a name lexicon (tests/bench/lexicon.py: people, places, organisations; 5 names per entity).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from streams.matching.matcher import Matcher  # noqa: E402
from streams.watchlist.file import load_watchlist  # noqa: E402
from tests.bench.lexicon import make_lexicon  # noqa: E402
from tests.unit.conftest import SEED_ARTICLE  # noqa: E402  (the seed text, verbatim)
from tests.unit.matching.reference_matcher import ReferenceMatcher  # noqa: E402

Article = tuple[str, str]
Entities = dict[str, list[str]]

_ROOT_LETTERS = "بتثجحخدذرزسشصضطظعغفقكلمنهويء"
_TEMPLATES = [
    "{0}{1}{2}",
    "{0}ا{1}{2}",
    "م{0}{1}{2}",
    "{0}{1}ي{2}",
    "ت{0}{1}{2}",
    "{0}{1}ا{2}",
    "است{0}{1}{2}",
]
_SUFFIXES = ["", "", "", "ة", "ات", "ين", "ون", "ي", "ية", "ها", "هم", "ا"]
_ARABIC_PREFIXES = ["", "", "", "", "", "ال", "ال", "ال", "و", "وال", "بال", "لل", "ب", "ل", "ف"]
_ARABIC_FUNCTION_WORDS = [
    "في",
    "من",
    "على",
    "إلى",
    "أن",
    "التي",
    "الذي",
    "عن",
    "مع",
    "هذا",
    "هذه",
    "قد",
    "كان",
    "بعد",
    "قبل",
    "بين",
    "حول",
    "كما",
    "أو",
    "ما",
    "لا",
    "إن",
]
_SYLLABLES = [
    "ka",
    "ri",
    "mo",
    "sul",
    "an",
    "tor",
    "el",
    "bar",
    "zin",
    "qa",
    "dor",
    "mi",
    "ne",
    "ush",
    "ve",
    "lo",
]
_ENGLISH_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "on",
    "was",
    "with",
    "he",
    "as",
    "it",
    "by",
    "at",
    "from",
    "his",
    "an",
    "were",
    "are",
    "which",
    "this",
    "be",
    "has",
    "had",
    "not",
    "but",
    "its",
    "they",
    "have",
    "or",
    "who",
    "one",
    "their",
    "been",
    "after",
    "all",
    "also",
    "new",
    "more",
    "first",
    "two",
    "said",
    "would",
    "government",
    "minister",
    "forces",
    "city",
    "military",
    "officials",
    "country",
    "security",
    "attack",
    "ministry",
    "president",
    "talks",
    "defense",
    "offensive",
    "coalition",
    "state",
    "regional",
    "border",
    "troops",
    "killed",
    "week",
    "statement",
    "reported",
]


class _Vocabulary:
    """Words drawn with Zipf frequencies: a few very common, a long tail of rare ones."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.weights = [1 / (rank + 10) for rank in range(len(words))]

    def draw(self, rng: random.Random, count: int) -> list[str]:
        return rng.choices(self.words, weights=self.weights, k=count)


def _arabic_stem(rng: random.Random) -> str:
    root = [rng.choice(_ROOT_LETTERS) for _ in range(3)]
    return rng.choice(_TEMPLATES).format(*root) + rng.choice(_SUFFIXES)


def _latin_word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


def _seed_words() -> list[str]:
    """The seed's words that mention nothing (realistic Arabic, frequent in the filler)."""
    lines = SEED_ARTICLE.splitlines()
    matcher = load_watchlist(REPO / "ops" / "watchlist.yaml").matcher()
    words = (lines[0] + " " + max(lines, key=len)).split()
    return [word for word in dict.fromkeys(words) if not matcher.mentions(word, "")]


def _vocabularies(rng: random.Random) -> tuple[_Vocabulary, _Vocabulary]:
    arabic = (
        _ARABIC_FUNCTION_WORDS + _seed_words() + list(dict.fromkeys(_arabic_stem(rng) for _ in range(40_000)))
    )
    english = _ENGLISH_WORDS + list(dict.fromkeys(_latin_word(rng) for _ in range(20_000)))
    return _Vocabulary(arabic), _Vocabulary(english)


def _rare(name: str, common: set[str]) -> bool:
    """Whether the longest word of ``name`` (the one the matcher searches for) is not a corpus word."""
    longest = max(name.lower().split(), key=len)
    return longest not in common and longest.removeprefix("ال") not in common


def make_entities(count: int, rng: random.Random, common: set[str]) -> Entities:
    """The seed world's entities first, then generated ones: 1-3 token names, Arabic and English,
    made like the corpus words (so they share prefixes with them) but rare: their longest word is
    never a corpus word."""
    entities: Entities = dict(load_watchlist(REPO / "ops" / "watchlist.yaml").entity_names())
    names_so_far = sum(len(names) for names in entities.values())
    while names_so_far < count:
        arabic = " ".join(_arabic_stem(rng) for _ in range(rng.choice([1, 1, 2, 2, 3])))
        if rng.random() < 0.4:
            arabic = "ال" + arabic
        english = " ".join(_latin_word(rng).capitalize() for _ in range(rng.choice([1, 2, 2, 3])))
        if _rare(arabic, common) and _rare(english, common):
            entities[f"gen{len(entities)}"] = [arabic, english]
            names_so_far += 2
    return _first_names(entities, count)


def _first_names(entities: Entities, count: int) -> Entities:
    kept: Entities = {}
    left = count
    for entity, names in entities.items():
        if left <= 0:
            break
        kept[entity] = names[:left]
        left -= len(kept[entity])
    return kept


_LEXICON_SIZES = (100_000, 1_000_000)


def lexicon_entities(count: int, lexicon: Entities) -> Entities:
    """The seed world's entities, then the lexicon's, cut at ``count`` names."""
    entities: Entities = dict(load_watchlist(REPO / "ops" / "watchlist.yaml").entity_names())
    entities.update(lexicon)
    return _first_names(entities, count)


def _lexicon() -> Entities:
    """200,000 entities with 1,000,000 names, none shared (the matcher counts a shared name once)."""
    lexicon = make_lexicon(200_000, 1_000_000, shared=False)
    return {entity.id: [name for names in entity.names.values() for name in names] for entity in lexicon}


def _mention(rng: random.Random, names: list[str]) -> str:
    """A name drawn with a Zipf-like skew (a few names are frequent, most are rare), maybe with clitics."""
    name = names[min(int(rng.paretovariate(0.7)) - 1, len(names) - 1)]
    if "\u0600" <= name[0] <= "\u06ff" and rng.random() < 0.4:
        stack = rng.choice(["و", "ب", "ل", "وب", "فل"])
        # ل before ال is written لل
        name = stack + name[1:] if stack.endswith("ل") and name.startswith("ال") else stack + name
    return name


def _arabic_words(rng: random.Random, vocabulary: _Vocabulary, count: int) -> list[str]:
    words = []
    for word in vocabulary.draw(rng, count):
        if len(word) > 3 and not word.startswith("ال") and rng.random() < 0.3:
            word = rng.choice(_ARABIC_PREFIXES) + word
        roll = rng.random()
        if roll < 0.08:
            word += "،"
        elif roll < 0.1:
            word = f"«{word}»"
        elif roll < 0.11:
            word = word[0] + "َ" + word[1:]  # an occasional diacritic
        words.append(word)
    return words


def _with_mentions(rng: random.Random, words: list[str], names: list[str]) -> list[str]:
    for _ in range(rng.randint(2, 8)):
        words.insert(rng.randrange(len(words)), _mention(rng, names))
    return words


def _arabic_article(rng: random.Random, vocabulary: _Vocabulary, names: list[str]) -> Article:
    words = _with_mentions(rng, _arabic_words(rng, vocabulary, rng.randint(500, 1100)), names)
    sentences = [" ".join(words[i : i + 20]) + "." for i in range(0, len(words), 20)]
    paragraphs = [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    return " ".join(_arabic_words(rng, vocabulary, 10)), "\n\n".join(paragraphs)


def _english_article(rng: random.Random, vocabulary: _Vocabulary, names: list[str]) -> Article:
    words = _with_mentions(rng, vocabulary.draw(rng, rng.randint(700, 1500)), names)
    sentences = [" ".join(words[i : i + 18]).capitalize() + "." for i in range(0, len(words), 18)]
    return " ".join(vocabulary.draw(rng, 9)).title(), " ".join(sentences)


def make_corpus(
    megabytes: float, names: list[str], vocabularies: tuple[_Vocabulary, _Vocabulary], rng: random.Random
) -> list[Article]:
    """About ``megabytes`` of UTF-8: the seed, then two Arabic articles for each English one."""
    lines = SEED_ARTICLE.splitlines()
    corpus: list[Article] = [(lines[0], max(lines, key=len))]
    arabic_vocabulary, english_vocabulary = vocabularies
    arabic_names = [n for n in names if "\u0600" <= n[0] <= "\u06ff"]
    english_names = [n for n in names if not "\u0600" <= n[0] <= "\u06ff"]
    size = 0
    while size < megabytes * 1e6:
        title, body = (
            _english_article(rng, english_vocabulary, english_names)
            if len(corpus) % 3 == 0
            else _arabic_article(rng, arabic_vocabulary, arabic_names)
        )
        corpus.append((title, body))
        size += len(title.encode()) + len(body.encode())
    return corpus


def _seconds(run: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _best_pair(
    ceiling: Callable[[], object], matcher: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Best times of the ceiling and the matcher, run alternately so that load on the machine hits both."""
    best_ceiling = best_matcher = float("inf")
    for _ in range(repeat):
        best_ceiling = min(best_ceiling, _seconds(ceiling))
        best_matcher = min(best_matcher, _seconds(matcher))
    return best_ceiling, best_matcher


def _ceiling(corpus: list[Article]) -> None:
    for title, body in corpus:
        len(title.encode())
        len(body.encode())


def _tag_all(matcher: Matcher, corpus: list[Article]) -> None:
    mentions = matcher.mentions
    for title, body in corpus:
        mentions(title, body)


def _rss_bytes() -> int:
    """Resident memory (Linux): counts the C scanner's tables, which tracemalloc cannot see."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def _build(entities: Entities, traced_max: int) -> tuple[Matcher, float, int, int]:
    """The matcher, its build time, and its memory: Python objects (a second, traced build, since
    tracemalloc slows allocation; only up to ``traced_max`` names, else -1) and resident memory
    (which includes the C scanner's tables)."""
    gc.collect()
    rss_before = _rss_bytes()
    start = time.perf_counter()
    matcher = Matcher(entities)
    seconds = time.perf_counter() - start
    rss = _rss_bytes() - rss_before
    if sum(len(names) for names in entities.values()) > traced_max:
        return matcher, seconds, -1, rss
    tracemalloc.start()
    traced = Matcher(entities)
    retained, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced
    return matcher, seconds, retained, rss


def _megabytes(size: int) -> str:
    return "-" if size < 0 else f"{size / 1e6:.1f}"


def _disagreements(matcher: Matcher, entities: Entities, corpus: list[Article]) -> int:
    reference = ReferenceMatcher(entities)
    bad = 0
    for title, body in corpus:
        fast = [(m.entity, m.name, m.token) for m in matcher.find(title, body)]
        if fast != reference.find(title, body) or matcher.mentions(title, body) != reference.mentions(
            title, body
        ):
            bad += 1
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=20.0, help="corpus size in MB of UTF-8")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs; the best is reported")
    parser.add_argument("--no-check", action="store_true", help="skip the reference cross-check")
    parser.add_argument("--sizes", default="10,1000,10000,100000,1000000", help="rows: names per watchlist")
    parser.add_argument(
        "--traced-max", type=int, default=10_000, help="largest row whose Python memory is traced"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    rng = random.Random(20161022)
    vocabularies = _vocabularies(rng)
    common = {word.lower() for vocabulary in vocabularies for word in vocabulary.words}
    watchlists = {size: make_entities(size, random.Random(size), common) for size in (10, 1_000, 10_000)}
    all_names = [name for names in watchlists[10_000].values() for name in names]
    if any(size in _LEXICON_SIZES for size in sizes):
        lexicon = _lexicon()
        for size in _LEXICON_SIZES:
            watchlists[size] = lexicon_entities(size, lexicon)
        # Mentions of lexicon names too (from the 100,000-name part, which both lexicon rows hold).
        lexicon_names = [name for names in watchlists[100_000].values() for name in names]
        all_names += random.Random(7).sample(lexicon_names, 10_000)
    corpus = make_corpus(args.mb, all_names, vocabularies, rng)
    total = sum(len(t.encode()) + len(b.encode()) for t, b in corpus)
    print(
        f"corpus: {len(corpus)} articles, {total / 1e6:.1f} MB UTF-8, {total / len(corpus) / 1e3:.1f} KB each"
    )

    print(
        f"{'names':>6} {'MB/s':>7} {'articles/s':>10} {'ceiling MB/s':>12} {'ratio':>6} {'build s':>7} "
        f"{'py MB':>6} {'scan MB':>7} {'RSS MB':>6} {'patterns':>8} {'hits/art':>8}"
        + ("  reference" if not args.no_check else "")
    )
    for size in sizes:
        entities = watchlists[size]
        matcher, build_seconds, retained, rss = _build(entities, args.traced_max)
        ceiling, seconds = _best_pair(
            lambda: _ceiling(corpus),
            lambda m=matcher: _tag_all(m, corpus),  # type: ignore[misc]
            args.repeat,
        )
        counted = sum(sum(matcher.mentions(t, b).values()) for t, b in corpus)
        stats = matcher.stats()
        row = (
            f"{size:>6} {total / 1e6 / seconds:7.1f} {len(corpus) / seconds:10.0f} {total / 1e6 / ceiling:12.1f} "
            f"{ceiling / seconds:6.1%} {build_seconds:7.2f} {_megabytes(retained):>6} {stats.scanner_bytes / 1e6:7.1f} "
            f"{rss / 1e6:6.1f} {stats.patterns:8} {counted / len(corpus):8.1f}"
        )
        if not args.no_check:
            bad = _disagreements(matcher, entities, corpus)
            row += f"  {'agrees on all' if bad == 0 else f'DISAGREES on {bad}'} {len(corpus)} articles"
        print(row, flush=True)
        del matcher  # before the next build: RSS deltas stay per row


if __name__ == "__main__":
    main()
