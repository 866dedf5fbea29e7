"""The one-way import rule bites: an I/O library in a pure module fails the lint; in an I/O module it passes."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")
BANNED = ["redis", "redis.asyncio", "faust", "mode", "aiokafka", "kafka", "kafka.admin", "aiohttp", "httpx"]
PURE = [
    "streams/model/x.py", "streams/matching/x.py", "streams/watchlist/x.py", "streams/rules/x.py",
    "streams/spikes/x.py", "streams/webhooks/bodies.py", "streams/exporter/families.py", "producers/text.py",
]  # fmt: skip


def lint(path: str, source: str) -> list[tuple[str, int]]:
    """(rule code, line) of every TID251 finding in `source` linted as if it were `path`."""
    done = subprocess.run(
        [str(RUFF), "check", "--select", "TID251", "--output-format", "json", "--stdin-filename", path, "-"],
        input=source, capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return [(item["code"], item["location"]["row"]) for item in json.loads(done.stdout)]


@pytest.mark.parametrize("path", PURE)
def test_every_io_library_is_banned_in_a_pure_module(path: str) -> None:
    source = "".join(f"import {module}\n" for module in BANNED) + "from aiohttp.web import Response\n"
    assert lint(path, source) == [("TID251", line) for line in range(1, len(BANNED) + 2)]


@pytest.mark.parametrize(
    "path",
    ["streams/store/x.py", "streams/worker/x.py", "streams/exporter/collector.py", "streams/cli/x.py",
     "streams/webhooks/client.py", "producers/publisher.py"],
)  # fmt: skip
def test_io_libraries_are_allowed_in_io_modules(path: str) -> None:
    assert lint(path, "import redis\nimport aiohttp\nfrom aiokafka import AIOKafkaProducer\n") == []


# Which rooms of streams/ each room may import (ARCHITECTURE.md "The one-way rule").
ALLOWED = {
    "model": set(),
    "matching": {"model"},
    "rules": {"model"},
    "webhooks": {"model"},
    "store": {"model"},
    "digests": {"model"},
    "spikes": {"model", "matching"},
    "stories": {"model", "matching"},
    "watchlist": {"model", "matching", "rules", "spikes", "webhooks", "digests"},
    "worker": {
        "model",
        "matching",
        "rules",
        "spikes",
        "webhooks",
        "digests",
        "watchlist",
        "store",
        "stories",
    },
    "exporter": {"model", "matching", "rules", "spikes", "webhooks", "digests", "watchlist", "store"},
    "cli": {
        "model",
        "matching",
        "rules",
        "spikes",
        "webhooks",
        "digests",
        "watchlist",
        "store",
        "worker",
        "stories",
    },
}


def room_imports() -> dict[tuple[str, str], list[str]]:
    """(importing room, imported room) -> the files with that arrow."""
    arrows: dict[tuple[str, str], list[str]] = {}
    for path in sorted((ROOT / "streams").glob("*/**/*.py")):
        room = path.relative_to(ROOT / "streams").parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "streams" and len(parts) > 1 and parts[1] != room:
                    arrows.setdefault((room, parts[1]), []).append(str(path.relative_to(ROOT)))
    return arrows


def test_rooms_import_only_the_rooms_below_them() -> None:
    arrows = room_imports()
    rooms = {path.parent.name for path in (ROOT / "streams").glob("*/__init__.py")}
    assert set(ALLOWED) == rooms  # a new room gets its line above
    wrong = {arrow: files for arrow, files in arrows.items() if arrow[1] not in ALLOWED[arrow[0]]}
    assert wrong == {}
