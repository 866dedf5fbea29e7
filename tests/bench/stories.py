"""Story sketch benchmark: quality (pairwise precision/recall on the labelled corpus, over shuffled
arrival orders) and cost (µs per article against the UTF-8 encode ceiling) of the chosen one-permutation
MinHash (C) versus datasketch MinHash and rensa R-MinHash over the same normalized word shingles.

Run: .venv/bin/pip install datasketch==2.0.0 rensa==0.5.0; .venv/bin/python tests/bench/stories.py
(the two libraries are compared here only; newsmon does not depend on them). Times are process CPU
time (time.process_time), so other processes on a shared machine slow them less.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from streams.matching.normalize import internal_form  # noqa: E402
from streams.stories import reference  # noqa: E402
from streams.stories.assign import MEMBERS_KEPT  # noqa: E402
from streams.stories.index import StoryIndex  # noqa: E402
from streams.stories.sketch import DEFAULT_PARAMS, sketch, sketch_internal, sketch_joined  # noqa: E402
from streams.watchlist.file import load_watchlist  # noqa: E402

CORPUS = REPO / "tests" / "fixtures" / "stories" / "corpus.jsonl"
SAMPLE = REPO / "ops" / "sample" / "articles.jsonl"
WATCHLIST = REPO / "ops" / "watchlist.yaml"
Row = dict[str, str]


def shingles(body: str, k: int = DEFAULT_PARAMS.shingle) -> list[bytes]:
    tokens = internal_form(body).split()
    return [b" ".join(tokens[i : i + k]) for i in range(len(tokens) - k + 1)]


def datasketch_method() -> tuple[Callable[[str], Any], Callable[[Any, Any], float]]:
    from datasketch import MinHash

    def make(body: str) -> Any:
        found = shingles(body)
        if len(set(found)) < 64:
            return None
        m = MinHash(num_perm=DEFAULT_PARAMS.slots, seed=1)
        m.update_batch(found)
        return m

    return make, lambda a, b: a.jaccard(b)


def rensa_method() -> tuple[Callable[[str], Any], Callable[[Any, Any], float]]:
    from rensa import RMinHash

    def make(body: str) -> Any:
        found = shingles(body)
        if len(set(found)) < 64:
            return None
        m = RMinHash(DEFAULT_PARAMS.slots, 1)
        m.update([s.decode("latin-1") for s in found])
        return m

    return make, lambda a, b: a.jaccard(b)


def greedy(rows: list[Row], make: Callable[[str], Any], similar: Callable[[Any, Any], float]) -> list[str]:
    """The index's assignment without LSH (every earlier story is a candidate): the estimators' quality."""
    members: dict[str, list[Any]] = {}
    out = []
    for row in rows:
        sk = make(row["body"])
        story = row["id"]
        if sk is not None:
            scores = [
                (max(similar(sk, m) for m in ms), s) for s, ms in members.items()
            ]  # closest kept member of each story
            scores = [(-score, s) for score, s in scores if score >= DEFAULT_PARAMS.threshold]
            story = min(scores)[1] if scores else row["id"]
            if len(members.setdefault(story, [])) < MEMBERS_KEPT:
                members[story].append(sk)
        out.append(story)
    return out


def ours(rows: list[Row]) -> list[str]:
    index = StoryIndex()
    return [index.assign(r["id"], r["body"]) for r in rows]


def pairwise(rows: list[Row], stories: list[str]) -> tuple[int, int, int]:
    """(true, false, missed) same-story pairs: a pair is positive when both lines are one story's."""
    tp = fp = fn = 0
    for a, b in itertools.combinations(range(len(rows)), 2):
        truth = rows[a]["story"] == rows[b]["story"]
        same = stories[a] == stories[b]
        tp += truth and same
        fp += same and not truth
        fn += truth and not same
    return tp, fp, fn


def per_article_us(fn: Callable[[str], Any], bodies: list[str], rounds: int) -> float:
    start = time.process_time()
    for _ in range(rounds):
        for body in bodies:
            fn(body)
    return (time.process_time() - start) / (rounds * len(bodies)) * 1e6


def tag_step_share(count: int, rounds: int) -> None:
    """The story step next to the tag step it will ride on: the matcher's scan gives the joined form,
    the story step sketches it (the Redis part rides on the batch's one EVALSHA)."""
    matcher = load_watchlist(WATCHLIST).matcher()
    articles = []
    with SAMPLE.open(encoding="utf-8") as lines:
        for line in itertools.islice(lines, count):
            a = json.loads(line)
            articles.append((a["title"], a["body"]))
    joined = [matcher._scan(title, body)[0] for title, body in articles]
    start = time.process_time()
    for _ in range(rounds):
        for title, body in articles:
            matcher.mentions(title, body)
    tag = (time.process_time() - start) / (rounds * len(articles)) * 1e6
    start = time.process_time()
    for _ in range(rounds):
        for form in joined:
            sketch_joined(form)
    story = (time.process_time() - start) / (rounds * len(articles)) * 1e6
    print(
        f"sample ({len(articles)} articles): tag (matcher.mentions) {tag:.1f} µs/article, "
        f"story sketch from its joined form {story:.1f} µs/article = {story / tag:.0%} of the tag step"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=20, help="shuffled arrival orders")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    tag_step_share(2000, 3)
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    bodies = [r["body"] for r in rows if r["body"]]
    internal = {body: internal_form(body) for body in bodies}
    methods: dict[str, tuple[Callable[[list[Row]], list[str]], Callable[[str], Any]]] = {
        "oph-c (chosen)": (ours, lambda body: sketch(body)),
        "oph-c from internal form": (ours, lambda body: sketch_internal(internal[body])),
        "oph-python-reference": (
            ours,
            lambda body: reference.sketch_text(body, DEFAULT_PARAMS.shingle, DEFAULT_PARAMS.slots),
        ),
    }
    for name, factory in (("datasketch", datasketch_method), ("rensa", rensa_method)):
        try:
            make, similar = factory()
        except ImportError:
            print(f"{name}: not installed, skipped")
            continue
        methods[name] = (lambda rs, make=make, similar=similar: greedy(rs, make, similar), make)
    ceiling = per_article_us(lambda body: len(body.encode()), bodies, args.rounds)
    kb = sum(len(b.encode()) for b in bodies) / len(bodies) / 1024
    print(f"{len(rows)} labelled articles, mean body {kb:.1f} KiB; encode ceiling {ceiling:.2f} µs/article")
    normalizing = per_article_us(internal_form, bodies, args.rounds)
    print(f"internal_form alone (normalization, shared with the matcher): {normalizing:.1f} µs/article")
    for name, (assign, make) in methods.items():
        totals = [0, 0, 0]
        for seed in range(args.orders):
            order = list(rows)
            random.Random(seed).shuffle(order)
            for i, n in enumerate(pairwise(order, assign(order))):
                totals[i] += n
        tp, fp, fn = totals
        rounds = 1 if "reference" in name else args.rounds
        cost = per_article_us(make, bodies, rounds)
        print(
            f"{name:22s} P={tp / (tp + fp):.4f} R={tp / (tp + fn):.4f} (tp {tp} fp {fp} fn {fn}, "
            f"{args.orders} orders)  {cost:8.1f} µs/article = {cost / ceiling:6.1f}x encode"
        )


if __name__ == "__main__":
    main()
