"""Fakes shared by the worker's unit tests: a Kafka message and a watchlist compiled from a dict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist


@dataclass
class Msg:
    """What tag_batch reads of a Faust message."""

    value: bytes | None
    key: bytes | None = b"k"
    topic: str = "news.articles"
    partition: int = 2
    offset: int = 7
    timestamp: float = 1_795_000_000.0


def compile_dict(tmp_path: Path, watchlist: dict[str, Any]) -> CompiledWatchlist:
    """The watchlist written as YAML under tmp_path and compiled, as the worker loads it."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(watchlist, allow_unicode=True), encoding="utf-8")
    return compile_watchlist(path, env={})
