"""The watchlist's `entities_files` and `strict_names` keys: entity files combined with inline entities,
shared names counted for each entity (reported once), strict rejection, bad files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streams.watchlist.file import WatchlistError, load_watchlist

INLINE = """\
entities:
  - id: mosul
    names: {ar: ["الموصل"], en: ["Mosul"]}
"""
PEOPLE = [
    '{"id": "jordan_country", "names": {"ar": ["الأردن"], "en": ["Jordan"]}}',
    '{"id": "jordan_person", "names": {"en": ["Michael Jordan", "jordan"]}}',
]


def _files(tmp_path: Path, watchlist: str, **files: list[str]) -> Path:
    for name, lines in files.items():
        (tmp_path / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    path = tmp_path / "watchlist.yaml"
    path.write_text(watchlist, encoding="utf-8")
    return path


def test_entity_files_follow_the_inline_entities(tmp_path: Path) -> None:
    sub = tmp_path / "lex"
    sub.mkdir()
    (sub / "people.jsonl").write_text(PEOPLE[0] + "\n", encoding="utf-8")
    path = _files(tmp_path, INLINE + "entities_files: [lex/people.jsonl]\n")
    watchlist = load_watchlist(path)
    assert [entity.id for entity in watchlist.entities] == ["mosul", "jordan_country"]
    assert watchlist.entity_files == (sub / "people.jsonl",)
    assert watchlist.entities[1].where == f"{sub / 'people.jsonl'}:1 (id 'jordan_country')"
    assert watchlist.matcher().mentions("الأردن والموصل", "") == {"jordan_country": 1, "mosul": 1}


def test_entity_files_alone_suffice(tmp_path: Path) -> None:
    path = _files(tmp_path, "entities_files: [people.jsonl]\n", **{"people.jsonl": PEOPLE})
    assert [entity.id for entity in load_watchlist(path).entities] == ["jordan_country", "jordan_person"]


def test_a_shared_name_counts_for_each_entity_and_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _files(tmp_path, INLINE + "entities_files: [people.jsonl]\n", **{"people.jsonl": PEOPLE})
    with caplog.at_level(logging.INFO, logger="streams.watchlist.file"):
        matcher = load_watchlist(path).matcher()
    assert matcher.mentions("", "Jordan met Michael Jordan in Mosul") == {
        "jordan_country": 1,
        "jordan_person": 2,
        "mosul": 1,
    }
    assert [record.getMessage() for record in caplog.records] == [
        f"{path}: 1 names are listed under several entities and count for each, "
        "e.g. 'Jordan' (jordan_country, jordan_person)"
    ]


def test_strict_names_rejects_a_shared_name(tmp_path: Path) -> None:
    path = _files(
        tmp_path, INLINE + "strict_names: true\nentities_files: [people.jsonl]\n", **{"people.jsonl": PEOPLE}
    )
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    assert str(caught.value) == (
        f"{path}: {tmp_path / 'people.jsonl'}:2 (id 'jordan_person'): name 'jordan' is also a name of "
        f"{tmp_path / 'people.jsonl'}:1 (id 'jordan_country') ('Jordan'); both normalize to 'jordan'"
    )


def test_strict_names_must_be_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(_files(tmp_path, INLINE + "strict_names: yes please\n"))
    assert str(caught.value) == f"{tmp_path / 'watchlist.yaml'}: strict_names: must be true or false, got str"


def test_an_entity_file_id_taken_inline(tmp_path: Path) -> None:
    path = _files(
        tmp_path,
        INLINE + "entities_files: [more.jsonl]\n",
        **{"more.jsonl": ['{"id": "mosul", "names": {"en": ["Mosul City"]}}']},
    )
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    assert str(caught.value) == (
        f"{tmp_path / 'more.jsonl'}:1: id 'mosul' is already defined at {path}: entities[0] (id 'mosul')"
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a", "names": {"en": ["A"]}', "x"], "people.jsonl:1: invalid JSON: "),
        (['{"id": "a", "names": {"en": ["A"]}, "type": "person"}'], "people.jsonl:1: unknown key(s) 'type'"),
    ],
)
def test_bad_entity_file_lines(tmp_path: Path, lines: list[str], message: str) -> None:
    path = _files(tmp_path, "entities_files: [people.jsonl]\n", **{"people.jsonl": lines})
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    assert str(caught.value).startswith(f"{tmp_path}/{message}")


def test_a_missing_entity_file(tmp_path: Path) -> None:
    path = _files(tmp_path, INLINE + "entities_files: [gone.jsonl]\n")
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    assert (
        str(caught.value)
        == f"{tmp_path / 'gone.jsonl'}: cannot read the entity file: No such file or directory"
    )


def test_the_size_cap_is_passed_down(tmp_path: Path) -> None:
    path = _files(tmp_path, "entities_files: [people.jsonl]\n", **{"people.jsonl": PEOPLE})
    size = (tmp_path / "people.jsonl").stat().st_size
    with pytest.raises(WatchlistError, match=rf"has {size:,} bytes, over the cap of 10 "):
        load_watchlist(path, max_entity_file_bytes=10)


def test_empty_entity_files_and_no_inline_entities(tmp_path: Path) -> None:
    path = _files(tmp_path, "entities_files: [empty.jsonl]\n", **{"empty.jsonl": []})
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    assert str(caught.value) == f"{path}: no entities: the entity files are empty"
