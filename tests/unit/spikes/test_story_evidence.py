"""Spike evidence by story: a story is cited once, by its first copy, with its copies and their sources."""

from __future__ import annotations

import orjson

from streams.spikes.evidence import pick_evidence


def entry(article_id: str, minute: int, source: str, story: str | None = None) -> bytes:
    fields = {"minute": minute, "article_id": article_id, "title": article_id, "url": "", "source": source,
              "published_at": None, "matched_names": ["Raqqa"]}  # fmt: skip
    return orjson.dumps({"story": story, **fields} if story is not None else fields)


def test_copies_are_one_story_cited_by_its_first_copy_with_copies_and_sources() -> None:
    newest_first = [
        entry("copy2", 12, "site2", story="seed"),
        entry("other", 11, "wire2", story="other"),
        entry("copy1", 12, "site1", story="seed"),
        entry("seed", 10, "wire", story="seed"),
        entry("old", 1, "wire", story="old"),  # outside the window
    ]
    cited = pick_evidence(newest_first, 5, 14)
    assert [(e.article_id, e.story, e.copies, e.copy_sources) for e in cited] == [
        ("seed", "seed", 3, ["site1", "site2", "wire"]),  # its newest copy is at minute 12
        ("other", "other", 1, ["wire2"]),
    ]


def test_entries_without_a_story_are_cited_one_by_one_newest_first() -> None:
    newest_first = [entry(f"a{n}", minute, "s") for n, minute in enumerate([3, 9, 9, 7, 8, 6, 5])]
    cited = pick_evidence(newest_first, 0, 10)
    assert [(e.article_id, e.copies) for e in cited] == [
        ("a1", None),
        ("a2", None),
        ("a4", None),
        ("a3", None),
        ("a5", None),
    ]
