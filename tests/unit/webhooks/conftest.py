"""amtool from the cache the stack unpacks Debian's prometheus-alertmanager into (never skipped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CACHED = Path.home() / ".cache" / "newsmon" / "alertmanager" / "usr" / "bin" / "amtool"


@pytest.fixture(scope="session")
def amtool() -> str:
    path = Path(os.environ.get("NEWSMON_AMTOOL") or CACHED)
    if not path.exists():
        pytest.fail(f"amtool not found at {path}: run `python3 ops/local/stack.py install` (make test does)")
    return str(path)
