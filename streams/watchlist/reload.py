"""THE watchlist reloader (worker and exporter): rebuild when the files change; a bad file keeps the old."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from streams.watchlist.entity_files import file_stamps
from streams.watchlist.loop_lag import with_longest_stall

log = logging.getLogger(__name__)
T = TypeVar("T")


def _ignore(_: object) -> None:
    return None


class WatchlistReloader(Generic[T]):
    """Holds what a watchlist file builds into (`build(path)`); `current` is swapped whole on reload.

    `on_loaded` sees every value put in force (the first too); `on_outcome` each reload's "ok" or
    "error"; `on_duration` each reload's build time in seconds. The first build raises (nothing
    starts on a bad file); a reload that fails is logged and leaves the previous value in force.
    `files(value)` lists the other files a value was built from (entity files): a change to the
    watchlist file or to any of them means a reload. `retire([old])`, when given, frees a replaced
    value in a thread after reload_in_thread() (it receives the only reference). `on_stall` sees,
    after each reload_in_thread(), the longest event-loop stall (s) measured while it built and retired.
    """

    def __init__(
        self,
        path: Path,
        build: Callable[[Path], T],
        on_loaded: Callable[[T], None] = _ignore,
        on_outcome: Callable[[str], None] = _ignore,
        files: Callable[[T], Sequence[Path]] = lambda _: (),
        on_duration: Callable[[float], None] = _ignore,
        retire: Callable[[list[T]], None] | None = None,
        on_stall: Callable[[float], None] = _ignore,
    ) -> None:
        self.path = path
        self.build = build
        self.on_loaded = on_loaded
        self.on_outcome = on_outcome
        self.files = files
        self.on_duration = on_duration
        self.retire = retire
        self.on_stall = on_stall
        self._reloading = False
        self._task: asyncio.Task[bool] | None = None  # the reload_soon() in progress, kept referenced
        self._stamp = file_stamps([path])
        self.current = build(path)
        self._stamp = self._stamps()
        on_loaded(self.current)

    def _stamps(self) -> tuple[tuple[int, int] | None, ...]:
        return file_stamps([self.path, *self.files(self.current)])

    def changed(self) -> bool:
        """Whether the watchlist file or one of the current value's other files changed."""
        return self._stamps() != self._stamp

    def _build_timed(self) -> T | None:
        """A new value, or None when the files are rejected (logged, counted)."""
        stamp_before = self._stamps()
        start = time.perf_counter()
        try:
            value = self.build(self.path)
        except (OSError, ValueError) as err:
            log.error("watchlist reload rejected, keeping the previous one: %s", err)
            self._stamp = stamp_before  # not retried until the files change again
            self.on_outcome("error")
            return None
        finally:
            self.on_duration(time.perf_counter() - start)
        return value

    def _put_in_force(self, value: T) -> None:
        self.current = value
        self._stamp = self._stamps()
        self.on_outcome("ok")
        self.on_loaded(value)

    def reload(self) -> bool:
        """Rebuild now, in this thread; True when the new files are in force."""
        value = self._build_timed()
        if value is None:
            return False
        self._put_in_force(value)
        return True

    def reload_if_changed(self) -> bool:
        return self.reload() if self.changed() else False

    async def reload_in_thread(self) -> bool:
        """Rebuild in a worker thread and swap on the event loop (between batches: an agent reads
        `current` once per batch); the loop keeps running meanwhile. One reload at a time."""
        if self._reloading:
            return False
        self._reloading = True
        try:
            swapped, stall = await with_longest_stall(self._build_swap_retire())
        finally:
            self._reloading = False
        self.on_stall(stall)
        return swapped

    async def _build_swap_retire(self) -> bool:
        value = await asyncio.to_thread(self._build_timed)
        if value is None:
            return False
        box = [self.current]
        self._put_in_force(value)
        if self.retire is not None:
            await asyncio.to_thread(self.retire, box)
        return True

    def reload_soon(self) -> None:
        """Start reload_in_thread() from a callback on the loop (SIGHUP)."""
        self._task = asyncio.get_running_loop().create_task(self.reload_in_thread())

    async def reload_in_thread_if_changed(self) -> bool:
        return await self.reload_in_thread() if self.changed() else False
