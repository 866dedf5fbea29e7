"""The C scanner's own contract: argument checks, the slow-path signal, hits in both paths."""

from __future__ import annotations

from array import array

import pytest

from streams.matching._scan import Scanner
from streams.matching.matcher import Matcher, _Tables
from streams.matching.normalize import SCAN_UNKNOWN, internal_form, scan_table


def _tables() -> _Tables:
    matcher = Matcher({"isis": ["داعش"], "state": ["الدولة الإسلامية"]})
    return _Tables(matcher._names)


def _scanner(**override: object) -> Scanner:
    tables = _tables()
    arguments: dict[str, object] = {
        "table": scan_table(),
        "patterns": tables.patterns,
        "pattern_targets": tables.pattern_targets,
        "targets": tables.targets,
        "names": tables.names,
        "token_spans": tables.token_spans,
        "token_bytes": tables.token_bytes,
        "stacks": tables.stacks,
    }
    arguments.update(override)
    return Scanner(**arguments)  # type: ignore[arg-type]  # mypy cannot see which value is which


def test_scan_returns_the_joined_form_and_each_match() -> None:
    scanner = _scanner()
    scanned = scanner.scan("بداعش", "مقاتلو الدولة الإسلامية")
    assert scanned is not None
    joined, hits = scanned
    assert joined == b" " + internal_form("بداعش") + b" \n " + internal_form("مقاتلو الدولة الإسلامية") + b" "
    # (token start, end one past the following space, proclitic bytes, name index, tokens)
    title_end = 1 + len(internal_form("بداعش")) + 1
    state_start = joined.index(internal_form("الدولة"))
    assert hits == [(1, title_end, 1, 0, 1), (state_start, len(joined), 0, 1, 2)]


def test_find_gives_the_same_hits_on_the_joined_form() -> None:
    scanner = _scanner()
    scanned = scanner.scan("بداعش", "مقاتلو الدولة الإسلامية")
    assert scanned is not None
    joined, hits = scanned
    assert scanner.find(joined) == hits


def test_a_character_outside_the_table_asks_for_the_slow_path() -> None:
    table = array("H", scan_table())
    assert table[ord("Ж")] == SCAN_UNKNOWN
    assert _scanner().scan("داعش", "Жанна") is None
    assert _scanner().scan("😀", "داعش") is None  # beyond the BMP


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="table must be 65536 uint16 values"):
        _scanner(table=b"\0" * 10)
    with pytest.raises(ValueError, match=r"pattern \(must be non-empty bytes without spaces\) 0"):
        _scanner(patterns=[b"a b", *_tables().patterns[1:]])
    with pytest.raises(ValueError, match="names must hold groups of 4 uint32 values"):
        _scanner(names=array("I", [0, 1, 0]))
    with pytest.raises(ValueError, match="target 0 is out of range"):
        _scanner(targets=array("I", [99, 0] * (len(_tables().targets) // 2)))
    with pytest.raises(ValueError, match="pattern_targets count 0 is out of range"):
        _scanner(pattern_targets=array("I"))
    with pytest.raises(ValueError, match="repeats pattern 0"):
        _scanner(patterns=[_tables().patterns[0]] * len(_tables().patterns))


def test_an_uninitialized_scanner_raises_instead_of_crashing() -> None:
    scanner = Scanner.__new__(Scanner)
    with pytest.raises(RuntimeError, match="not initialized"):
        scanner.scan("a", "b")
    with pytest.raises(RuntimeError, match="not initialized"):
        scanner.find(b" a ")
    with pytest.raises(RuntimeError, match="already initialized"):
        _scanner().__init__(scan_table(), [], array("I"), array("I"), array("I"), array("I"), b"", array("I"))
