"""The loop-lag probe: the result of the work, and a stall the work forces on the loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from streams.watchlist.loop_lag import with_longest_stall
from streams.watchlist.reload import WatchlistReloader


async def _blocks_loop(seconds: float) -> str:
    await asyncio.sleep(0.02)  # let the probe take its first steps
    time.sleep(seconds)  # holds the loop, as a GIL-holding build would
    await asyncio.sleep(0.02)
    return "done"


def test_the_work_result_is_returned() -> None:
    result, _ = asyncio.run(with_longest_stall(asyncio.sleep(0.01, result=7)))
    assert result == 7


def test_a_blocked_loop_is_measured_at_least_as_long_as_the_block() -> None:
    result, stall = asyncio.run(with_longest_stall(_blocks_loop(0.2)))
    assert result == "done"
    assert stall >= 0.2 - 0.005  # the block minus the probe's own sleep (no upper bound: shared CPU)


async def test_each_reload_in_thread_reports_its_longest_stall(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text("w")
    stalls: list[float] = []
    reloader = WatchlistReloader(path, lambda p: p.read_text(), on_stall=stalls.append)
    assert await reloader.reload_in_thread() is True
    path.write_text("two")
    assert await reloader.reload_in_thread() is True
    assert len(stalls) == 2 and all(s >= 0 for s in stalls)
