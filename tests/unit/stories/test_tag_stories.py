"""`python -m streams.tag --stories`: every output line carries its story, the offline index's."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import orjson

from streams.cli.tag import tag_stream
from streams.matching.matcher import Matcher
from streams.stories.index import StoryIndex

REPO = Path(__file__).resolve().parents[3]
E2E = REPO / "tests" / "fixtures" / "stories" / "e2e-input.jsonl"


def test_stories_option_adds_the_story_of_every_line() -> None:
    lines = E2E.read_bytes().splitlines()
    out = io.BytesIO()
    failed = tag_stream(iter([*lines, b"not json"]), out, Matcher({"isis": ["داعش"]}), StoryIndex())
    tagged = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert failed == 1
    assert tagged[-1] == {"line": 52, "error": tagged[-1]["error"]}
    seed_id = orjson.loads(lines[0])["id"]
    assert [t["story"] for t in tagged[:21]] == [seed_id] * 21
    assert len({t["story"] for t in tagged[:-1]}) == 31
    assert tagged[0]["mentions"] == {"isis": 7}  # title 1, body 6 (بداعش, لتنظيم داعش included)


def test_cli_with_stories(tmp_path: Path) -> None:
    watchlist = tmp_path / "w.yaml"
    watchlist.write_text("entities:\n  - id: isis\n    names: {ar: [داعش]}\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "streams.tag", "--watchlist", str(watchlist), "--stories"],
        input=E2E.read_bytes(),
        capture_output=True,
        cwd=REPO,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    stories = [orjson.loads(line)["story"] for line in run.stdout.splitlines()]
    assert len(stories) == 51
    assert len(set(stories)) == 31
