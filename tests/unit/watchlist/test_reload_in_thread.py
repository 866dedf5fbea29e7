"""Reloads beside the event loop: built in a thread, swapped on the loop, entity files watched, the
replaced value retired in a thread, a rejected build keeping the old value; and the retire helper."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from streams.watchlist.compiled import compile_watchlist
from streams.watchlist.reload import WatchlistReloader
from streams.watchlist.retire import retire


def _build(path: Path) -> tuple[str, str, str]:
    """(watchlist text, entity file text, building thread's name); 'bad' in either is rejected."""
    text = path.read_text()
    extra = (path.parent / "people.jsonl").read_text()
    if "bad" in text + extra:
        raise ValueError(f"{path}: bad")
    return text, extra, threading.current_thread().name


def _reloader(
    tmp_path: Path, durations: list[float], retired: list[object]
) -> WatchlistReloader[tuple[str, str, str]]:
    (tmp_path / "people.jsonl").write_text("one")
    path = tmp_path / "watchlist.yaml"
    path.write_text("w")
    return WatchlistReloader(
        path, _build, files=lambda _: [tmp_path / "people.jsonl"], on_duration=durations.append,
        retire=lambda box: retired.append(box.pop()),
    )  # fmt: skip


async def test_a_changed_entity_file_is_rebuilt_in_a_thread_and_the_old_value_retired(tmp_path: Path) -> None:
    durations: list[float] = []
    retired: list[object] = []
    reloader = _reloader(tmp_path, durations, retired)
    first = reloader.current
    assert await reloader.reload_in_thread_if_changed() is False
    entity_file = tmp_path / "people.jsonl"
    entity_file.write_text("two!")
    os.utime(entity_file, ns=(1, 1))  # a different stamp even within one clock tick
    assert await reloader.reload_in_thread_if_changed() is True
    text, extra, thread = reloader.current
    assert (text, extra) == ("w", "two!")
    assert thread != threading.current_thread().name
    assert retired == [first]
    assert len(durations) == 1


async def test_a_rejected_build_keeps_the_old_value_and_is_not_retried(tmp_path: Path) -> None:
    durations: list[float] = []
    retired: list[object] = []
    reloader = _reloader(tmp_path, durations, retired)
    first = reloader.current
    (tmp_path / "people.jsonl").write_text("bad")
    assert await reloader.reload_in_thread_if_changed() is False
    assert reloader.current is first
    assert await reloader.reload_in_thread_if_changed() is False  # unchanged since the rejection
    assert (retired, len(durations)) == ([], 1)


async def test_one_reload_at_a_time(tmp_path: Path) -> None:
    reloader = _reloader(tmp_path, [], [])
    results = await asyncio.gather(reloader.reload_in_thread(), reloader.reload_in_thread())
    assert sorted(results) == [False, True]


def test_retire_frees_a_compiled_watchlist_nothing_else_holds() -> None:
    compiled = compile_watchlist(Path("ops/watchlist.yaml"))
    matcher_names = compiled.matcher._names
    assert len(matcher_names.tokens) > 0
    box = [compiled]
    del compiled
    retire(box)
    assert (box, matcher_names.tokens, matcher_names.owners) == ([], [], [])
