"""`python -m streams.tag`: one output line per input line, errors in place, exit codes."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.cli.tag import tag_stream
from streams.matching.matcher import Matcher

REPO = Path(__file__).resolve().parents[3]
ENTITIES = {"isis": ["داعش", "ISIS"], "mosul": ["الموصل", "Mosul"]}


def _run_stream(lines: list[bytes]) -> tuple[list[object], int]:
    out = io.BytesIO()
    failed = tag_stream(iter(lines), out, Matcher(ENTITIES))
    return [orjson.loads(line) for line in out.getvalue().splitlines()], failed


def test_one_output_line_per_input_line_in_order() -> None:
    lines = [
        b'{"id": "a", "title": "\xd8\xaf\xd8\xa7\xd8\xb9\xd8\xb4", "body": "Mosul-based ISIS"}\n',
        orjson.dumps({"id": "b", "title": "nothing here", "url": "http://x"}) + b"\n",
        orjson.dumps({"id": "c", "body": "فللموصل والموصلات"}),  # last line without newline
    ]
    assert _run_stream(lines) == (
        [
            {"id": "a", "mentions": {"isis": 2, "mosul": 1}},
            {"id": "b", "mentions": {}},
            {"id": "c", "mentions": {"mosul": 1}},
        ],
        0,
    )


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"not json\n", "not_json: not JSON: invalid literal, expected 'null': line 1 column 1 (char 0)"),
        (b"\n", "not_json: not JSON: input data is empty: line 1 column 1 (char 0)"),
        (b"[1, 2]\n", "not_object: expected a JSON object, got list"),
        (b'{"title": "x"}\n', "invalid_article: missing required key 'id'"),
        (b'{"id": 5, "title": "x"}\n', "invalid_article: id: Input should be a valid string"),
        (b'{"id": " ", "title": "x"}\n', "invalid_article: article: Value error, id is empty"),
        (b'{"id": "a", "title": ["x"]}\n', "invalid_article: title: Input should be a valid string"),
        (
            b'{"id": "a", "title": "x", "body": null}\n',
            "invalid_article: body: Input should be a valid string",
        ),
        (
            b'{"id": "a", "title": " ", "body": ""}\n',
            "invalid_article: article: Value error, title and body are both empty",
        ),
        (b'{"id": "a", "title": "\xff"}\n', "not_utf8: invalid UTF-8 at byte 22"),
    ],
)
def test_bad_lines_are_reported_in_place(line: bytes, error: str) -> None:
    lines = [b'{"id": "a", "title": "ISIS"}\n', line, b'{"id": "z", "body": "Mosul"}\n']
    assert _run_stream(lines) == (
        [
            {"id": "a", "mentions": {"isis": 1}},
            {"line": 2, "error": error},
            {"id": "z", "mentions": {"mosul": 1}},
        ],
        1,
    )


def test_other_fields_are_ignored() -> None:
    line = orjson.dumps({"id": "x", "title": "ISIS", "body": "b", "lang": "ar", "extra": [1]})
    assert _run_stream([line]) == ([{"id": "x", "mentions": {"isis": 1}}], 0)


def test_many_lines_are_flushed_in_batches() -> None:
    lines = [orjson.dumps({"id": str(n), "title": "داعش" if n % 2 else "x"}) for n in range(5000)]
    results, failed = _run_stream(lines)
    assert failed == 0
    assert len(results) == 5000
    assert results[4999] == {"id": "4999", "mentions": {"isis": 1}}
    assert results[4998] == {"id": "4998", "mentions": {}}


def _cli(stdin: bytes, watchlist: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "streams.tag", "--watchlist", watchlist],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_cli_exit_codes_and_output() -> None:
    ok = _cli(orjson.dumps({"id": "1", "title": "كارتر يبحث بأنقرة"}) + b"\n", "ops/watchlist.yaml")
    assert (ok.returncode, ok.stdout, ok.stderr) == (
        0,
        b'{"id":"1","mentions":{"carter":1,"ankara":1}}\n',
        b"",
    )
    failed = _cli(b'{"id": "1", "title": "x"}\n{oops\n', "ops/watchlist.yaml")
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[0] == b'{"id":"1","mentions":{}}'
    assert orjson.loads(failed.stdout.splitlines()[1])["line"] == 2
    empty = _cli(b"", "ops/watchlist.yaml")
    assert (empty.returncode, empty.stdout) == (0, b"")


def test_cli_bad_watchlist_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("entities:\n  - id: Bad Id\n    names: {en: [x]}\n", encoding="utf-8")
    result = _cli(b"", str(path))
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode() == (
        f"streams.tag: bad watchlist: {path}: entities[0] (id 'Bad Id'): id must match [a-z0-9_-]+\n"
    )
