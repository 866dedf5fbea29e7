"""A loop-lag probe: the longest time the event loop was kept from running while some work went on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")
PROBE_SECONDS = 0.005  # a short sleep: its overshoot is how long the loop could not run


async def _longest_overshoot(stop: asyncio.Event) -> float:
    longest = 0.0
    while not stop.is_set():
        due = time.perf_counter() + PROBE_SECONDS
        await asyncio.sleep(PROBE_SECONDS)
        longest = max(longest, time.perf_counter() - due)
    return longest


async def with_longest_stall(work: Awaitable[T]) -> tuple[T, float]:
    """Await ``work`` while a probe sleeps in 5 ms steps; returns its result and the longest stall (s)."""
    stop = asyncio.Event()
    probe = asyncio.get_running_loop().create_task(_longest_overshoot(stop))
    try:
        result = await work
    finally:
        stop.set()
        longest = await probe
    return result, longest
