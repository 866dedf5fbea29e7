"""Entity files: JSON Lines entity objects, one exact error per kind of mistake (file:line, problem)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.matching.normalize import internal_form
from streams.watchlist.entity_files import (
    DEFAULT_MAX_BYTES,
    EntityFileError,
    file_stamps,
    parse_entity_file,
    read_bytes_capped,
    read_entity_files,
    resolve_entity_paths,
    validate_entity,
)

MOSUL = '{"id": "mosul", "names": {"ar": ["الموصل"], "en": ["Mosul", "Mosul City"]}}'
RAQQA = '{"id": "raqqa", "names": {"ar": ["الرقة"], "en": ["Raqqa"]}}'


def _write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _error(data: str, source: str = "lex.jsonl") -> str:
    with pytest.raises(EntityFileError) as caught:
        parse_entity_file(data.encode(), source)
    return str(caught.value)


def test_entities_in_order_with_names_and_internal_forms() -> None:
    records = parse_entity_file(f"{MOSUL}\n{RAQQA}\n".encode(), "lex.jsonl")
    assert [record.id for record in records] == ["mosul", "raqqa"]
    mosul = records[0]
    assert dict(mosul.names) == {"ar": ("الموصل",), "en": ("Mosul", "Mosul City")}
    assert mosul.all_names() == ["الموصل", "Mosul", "Mosul City"]
    assert mosul.forms == (internal_form("الموصل"), b"mosul", b"mosul city")
    assert (mosul.where, records[1].where) == ("lex.jsonl:1", "lex.jsonl:2")


def test_forms_are_tokens_joined_by_one_space() -> None:
    record = validate_entity({"id": "us", "names": {"en": ["  U.S.  ", "Mosul-based"]}}, "x")
    assert record.forms == (b"u s", b"mosul based")
    assert record.where == "<memory>"


def test_blank_lines_and_a_byte_order_mark_are_skipped() -> None:
    records = parse_entity_file(f"\ufeff{MOSUL}\n\n   \n{RAQQA}".encode(), "lex.jsonl")
    assert [(record.id, record.line) for record in records] == [("mosul", 1), ("raqqa", 4)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a", "names": ', "lex.jsonl:2: invalid JSON: unexpected end of data: line 1 column 22 (char 21)"),
        ('["a"]', "lex.jsonl:2: an entity must be an object, got list"),
        ('{"id": "a", "names": {"en": ["A"]}, "kind": "x"}', "lex.jsonl:2: unknown key(s) 'kind'; allowed: id, names"),
        ('{"names": {"en": ["A"]}}', "lex.jsonl:2: missing 'id'"),
        ('{"id": 7, "names": {"en": ["A"]}}', "lex.jsonl:2: id must be a string, got int"),
        ('{"id": "Mosul", "names": {"en": ["A"]}}', "lex.jsonl:2: id 'Mosul' must match [a-z0-9_-]+"),
        ('{"id": "a"}', "lex.jsonl:2 (id 'a'): missing 'names'"),
        ('{"id": "a", "names": ["A"]}', "lex.jsonl:2 (id 'a'): names must map language codes to lists of names"),
        ('{"id": "a", "names": {}}', "lex.jsonl:2 (id 'a'): names is empty"),
        ('{"id": "a", "names": {"EN": ["A"]}}', "lex.jsonl:2 (id 'a'): names: 'EN' is not a language code like 'ar' or 'en'"),
        ('{"id": "a", "names": {"en": "A"}}', "lex.jsonl:2 (id 'a'): names.en: must be a list of names, got str"),
        ('{"id": "a", "names": {"en": []}}', "lex.jsonl:2 (id 'a'): names.en: the list of names is empty"),
        ('{"id": "a", "names": {"en": ["A", 3]}}', "lex.jsonl:2 (id 'a'): names.en[1]: must be a string, got int"),
        ('{"id": "a", "names": {"en": ["A", " ... "]}}', "lex.jsonl:2 (id 'a'): names.en[1]: ' ... ' normalizes to nothing (no letters or digits)"),
        ('{"id": "a", "id": "b", "names": {"en": ["A"]}}', "lex.jsonl:2: key 'id' is given twice"),
        ('{"id": "a", "names": {"en": ["A"], "en": ["B"]}}', "lex.jsonl:2: key 'en' is given twice"),
    ],
)  # fmt: skip
def test_a_bad_line_names_the_file_the_line_and_the_problem(line: str, message: str) -> None:
    assert _error(f"{MOSUL}\n{line}\n{RAQQA}\n") == message


def test_a_name_spelled_like_a_key_is_not_a_repeated_key() -> None:
    records = parse_entity_file(b'{"id": "a", "names": {"en": ["id", "names", "en"]}}', "lex.jsonl")
    assert records[0].all_names() == ["id", "names", "en"]


def test_invalid_utf8_is_a_line_error() -> None:
    with pytest.raises(EntityFileError, match=r"^lex\.jsonl:1: invalid JSON: "):
        parse_entity_file(b'{"id": "a", "names": {"en": ["\xff"]}}', "lex.jsonl")


def test_files_combine_in_order(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.jsonl", MOSUL)
    second = _write(tmp_path / "b.jsonl", RAQQA)
    records = read_entity_files([first, second])
    assert [(record.id, record.where) for record in records] == [
        ("mosul", f"{first}:1"),
        ("raqqa", f"{second}:1"),
    ]


def test_an_id_repeated_across_files_names_both_places(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.jsonl", MOSUL, RAQQA)
    second = _write(tmp_path / "b.jsonl", '{"id": "tal_afar", "names": {"en": ["Tal Afar"]}}', RAQQA)
    with pytest.raises(EntityFileError) as caught:
        read_entity_files([first, second])
    assert str(caught.value) == f"{second}:2: id 'raqqa' is already defined at {first}:2"


def test_an_id_repeated_within_a_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", MOSUL, RAQQA, MOSUL)
    with pytest.raises(EntityFileError) as caught:
        read_entity_files([path])
    assert str(caught.value) == f"{path}:3: id 'mosul' is already defined at {path}:1"


def test_an_id_taken_by_an_inline_entity(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", RAQQA, MOSUL)
    with pytest.raises(EntityFileError) as caught:
        read_entity_files([path], defined={"mosul": "watchlist.yaml: entities[0]"})
    assert str(caught.value) == f"{path}:2: id 'mosul' is already defined at watchlist.yaml: entities[0]"


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EntityFileError) as caught:
        read_entity_files([tmp_path / "gone.jsonl"])
    assert (
        str(caught.value)
        == f"{tmp_path / 'gone.jsonl'}: cannot read the entity file: No such file or directory"
    )


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as handle:
        handle.truncate(2 * 1024**3)  # a sparse 2 GiB file: no disk used, nothing read
    with pytest.raises(EntityFileError) as caught:
        read_entity_files([path])
    assert str(caught.value) == (
        f"{path}: the entity file has 2,147,483,648 bytes, over the cap of {DEFAULT_MAX_BYTES:,} "
        "(NEWSMON_ENTITY_FILE_MAX_BYTES)"
    )


def test_the_cap_is_configurable(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", MOSUL)
    size = path.stat().st_size
    assert read_bytes_capped(path, size) == path.read_bytes()
    with pytest.raises(EntityFileError, match=rf"has {size:,} bytes, over the cap of {size - 1:,} "):
        read_bytes_capped(path, size - 1)


def test_paths_are_relative_to_the_watchlist_directory(tmp_path: Path) -> None:
    assert resolve_entity_paths(["people.jsonl", "/abs/places.jsonl"], tmp_path, "w.yaml") == (
        tmp_path / "people.jsonl",
        Path("/abs/places.jsonl"),
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("people.jsonl", "w.yaml: entities_files: must be a list of paths, got str"),
        (["a.jsonl", ""], "w.yaml: entities_files[1]: must be a non-empty path string"),
        (["a.jsonl", 3], "w.yaml: entities_files[1]: must be a non-empty path string"),
        (["a.jsonl", "a.jsonl"], "w.yaml: entities_files[1]: 'a.jsonl' is listed twice"),
    ],
)
def test_bad_entities_files_values(value: object, message: str, tmp_path: Path) -> None:
    with pytest.raises(EntityFileError) as caught:
        resolve_entity_paths(value, tmp_path, "w.yaml")
    assert str(caught.value) == message


def test_stamps_change_with_any_file(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.jsonl", MOSUL)
    second = _write(tmp_path / "b.jsonl", RAQQA)
    before = file_stamps([first, second])
    _write(second, RAQQA, MOSUL.replace("mosul", "mosul2"))
    after = file_stamps([first, second])
    assert before[0] == after[0]
    assert before[1] != after[1]
    assert file_stamps([tmp_path / "gone"]) == (None,)
