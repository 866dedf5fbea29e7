"""THE watchlist reloader (worker and exporter): rebuild when the file changes; a bad file keeps the old."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from streams.watchlist.file import file_stamp

log = logging.getLogger(__name__)
T = TypeVar("T")


def _ignore(_: object) -> None:
    return None


class WatchlistReloader(Generic[T]):
    """Holds what a watchlist file builds into (`build(path)`); `current` is swapped whole on reload.

    `on_loaded` sees every value put in force (the first too); `on_outcome` each reload's "ok" or
    "error". The first build raises (nothing starts on a bad file); a reload that fails is logged and
    leaves the previous value in force.
    """

    def __init__(
        self,
        path: Path,
        build: Callable[[Path], T],
        on_loaded: Callable[[T], None] = _ignore,
        on_outcome: Callable[[str], None] = _ignore,
    ) -> None:
        self.path = path
        self.build = build
        self.on_loaded = on_loaded
        self.on_outcome = on_outcome
        self._stamp = file_stamp(path)
        self.current = build(path)
        on_loaded(self.current)

    def reload(self) -> bool:
        """Rebuild now (SIGHUP); True when the new file is in force."""
        self._stamp = file_stamp(self.path)
        try:
            value = self.build(self.path)
        except (OSError, ValueError) as err:
            log.error("watchlist reload rejected, keeping the previous one: %s", err)
            self.on_outcome("error")
            return False
        self.current = value
        self.on_outcome("ok")
        self.on_loaded(value)
        return True

    def reload_if_changed(self) -> bool:
        return self.reload() if file_stamp(self.path) != self._stamp else False
