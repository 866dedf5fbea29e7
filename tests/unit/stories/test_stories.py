"""Story sketches and the in-memory index on the labelled corpus (tests/fixtures/stories)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.matching.matcher import Matcher
from streams.matching.normalize import internal_form
from streams.stories import _sketch, reference
from streams.stories.assign import Candidate, best_story
from streams.stories.index import StoryIndex
from streams.stories.sketch import DEFAULT_PARAMS, SketchParams, agreeing, sketch, sketch_joined

FIXTURES = Path(__file__).parents[2] / "fixtures" / "stories"


def load(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines()]


def partition(ids: list[str], labels: list[str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for article_id, label in zip(ids, labels, strict=True):
        groups[label].add(article_id)
    return {frozenset(g) for g in groups.values()}


CORPUS = load("corpus.jsonl")


@pytest.mark.parametrize("shingle", [1, 3, 5])
def test_c_sketch_equals_the_reference_on_the_corpus(shingle: int) -> None:
    for row in CORPUS:
        internal = internal_form(row["body"])
        signature, filled = _sketch.sketch(internal, shingle, 128)
        assert (signature, filled) == reference.signature(internal, shingle, 128), row["id"]
        if filled:
            assert _sketch.bands(signature, 4, 32) == reference.bands(signature, 4, 32)


def test_corpus_partition_is_the_labelled_one() -> None:
    index = StoryIndex()
    stories = [index.assign(row["id"], row["body"]) for row in CORPUS]
    assert partition([r["id"] for r in CORPUS], stories) == partition(
        [r["id"] for r in CORPUS], [r["story"] for r in CORPUS]
    )
    # A story's id is its first article's id.
    assert stories[0] == "seed.original.ar-wire"
    assert len(set(stories)) == 27  # 12 stories with copies, 4 round-ups, 11 short items


def test_reversed_order_gives_the_same_partition() -> None:
    rows = CORPUS[::-1]
    index = StoryIndex()
    stories = [index.assign(row["id"], row["body"]) for row in rows]
    ids = [r["id"] for r in rows]
    assert partition(ids, stories) == partition(ids, [r["story"] for r in rows])


def test_every_copy_is_similar_to_its_original_and_round_ups_to_nothing() -> None:
    sketches = {r["id"]: sketch(r["body"]) for r in CORPUS}
    originals = {r["story"]: sketches[r["id"]].signature for r in CORPUS if r["kind"] == "original"}
    for row in CORPUS:
        signature = sketches[row["id"]].signature
        if row["kind"].startswith("copy-"):
            assert signature is not None
            assert agreeing(signature, originals[row["story"]]) >= DEFAULT_PARAMS.agreeing_needed, row["id"]
        if row["kind"] == "roundup":
            assert signature is not None
            assert all(agreeing(signature, o) < DEFAULT_PARAMS.agreeing_needed for o in originals.values())


def test_short_items_have_no_signature() -> None:
    for row in CORPUS:
        if row["kind"] in ("title-only", "teaser", "flash"):
            assert sketch(row["body"]).signature is None, row["id"]


def test_repeated_article_keeps_its_story() -> None:
    index = StoryIndex()
    first = CORPUS[0]
    assert index.assign(first["id"], first["body"]) == first["id"]
    assert index.assign(first["id"], "a different body on redelivery") == first["id"]


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   \n\n  ",
        "!!! ... ??? --- «» ،،، ***",
        "1 2 3 4 5 6 7 8 9 10 " * 100,
        "news " * 300_000,
        "ا" * (1024 * 1024),
    ],
    ids=["empty", "blank", "no-letters", "digits", "one-word-1MiB", "one-token-1MiB"],
)
def test_bad_input_is_assigned_and_merged_with_nothing(body: str) -> None:
    index = StoryIndex()
    for row in CORPUS:
        index.assign(row["id"], row["body"])
    assert index.assign("bad", body) == "bad"
    # ... and a second copy of the same junk is not merged with it either: too little evidence.
    assert index.assign("bad-again", body) == "bad-again"


def test_1_mib_of_real_text_is_sketched_and_joins_its_story() -> None:
    seed = CORPUS[0]["body"]
    huge = (seed + "\n\n") * (1024 * 1024 // len(seed.encode()))
    index = StoryIndex()
    index.assign("seed", seed)
    assert index.assign("huge", huge) == "seed"


def test_e2e_input_is_31_stories() -> None:
    rows = load("e2e-input.jsonl")
    index = StoryIndex()
    stories = [index.assign(row["id"], row["body"]) for row in rows]
    assert len(set(stories)) == 31
    assert stories[:21] == [rows[0]["id"]] * 21
    assert len(set(stories[21:])) == 30
    assert len({r["source"] for r in rows[:21]}) == 21


def test_best_story_needs_the_threshold_and_breaks_ties_by_id() -> None:
    params = SketchParams()
    a = sketch(CORPUS[0]["body"]).signature
    assert a is not None
    same = [Candidate("b-story", [a]), Candidate("a-story", [a])]
    assert best_story(a, same, params) == "a-story"
    unrelated = sketch(next(r["body"] for r in CORPUS if r["story"] == "egypt-rates")).signature
    assert unrelated is not None
    assert best_story(a, [Candidate("x", [unrelated])], params) is None
    assert best_story(a, [Candidate("x", [unrelated, a])], params) == "x"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"slots": 100}, "power of two"),
        ({"rows": 8, "bands": 32}, "must fit"),
        ({"threshold": 0}, "threshold"),
        ({"shingle": 0}, "shingle"),
    ],
)
def test_bad_params_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SketchParams(**kwargs)  # type: ignore[arg-type]


def test_sketch_from_the_matchers_joined_form_equals_the_bodys() -> None:
    matcher = Matcher({"isis": ["داعش"]})
    for row in CORPUS:
        for title in (row["title"], "a title\non two lines", ""):
            joined, _hits = matcher._scan(title, row["body"])
            assert sketch_joined(joined) == sketch(row["body"]), row["id"]


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        st.text(alphabet="ابتثداعشموصلرقه abcXYZ0123 «»،.\n\u064e\u200f©ğ", max_size=12), max_size=120
    ),
    shingle=st.integers(min_value=1, max_value=16),
    bits=st.integers(min_value=1, max_value=10),
)
def test_c_sketch_equals_the_reference_on_any_text(words: list[str], shingle: int, bits: int) -> None:
    internal = internal_form(" ".join(words))
    signature, filled = _sketch.sketch(internal, shingle, 1 << bits)
    assert (signature, filled) == reference.signature(internal, shingle, 1 << bits)
