"""The watchlist as the exporter sees it (entity ids, spike detectors), reloaded when the file changes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from streams.spikes.detector import SpikeDetector
from streams.spikes.spec import load_spikes
from streams.watchlist.file import WatchlistError, load_watchlist
from streams.watchlist.reload import WatchlistReloader


@dataclass(frozen=True, slots=True)
class WatchView:
    """The watchlist as the exporter sees it: entity ids (the only label values), spike detectors, and
    the ids exported even when quiet (NEWSMON_EXPORTER_ALWAYS)."""

    entities: tuple[str, ...]
    spikes: tuple[SpikeDetector, ...] = ()
    always: frozenset[str] = frozenset()
    files: tuple[Path, ...] = ()  # the watchlist's entity files: a change to one reloads the view

    def span_minutes(self) -> int:
        """Minutes of per-minute buckets the spike detectors read (window plus baseline)."""
        return max((d.span_minutes for d in self.spikes), default=0)


def load_view(path: Path, always: frozenset[str] = frozenset()) -> WatchView:
    """Entity ids and compiled spike detectors of a watchlist file; webhook secrets are not needed."""
    watchlist = load_watchlist(path)
    ids = [entity.id for entity in watchlist.entities]
    try:
        spikes = load_spikes(watchlist.spikes, ids, list(watchlist.webhooks))
    except ValueError as err:
        raise WatchlistError(f"{path}: {err}") from err
    return WatchView(tuple(ids), spikes, always, watchlist.entity_files)


class ViewSource:
    """The view of the watchlist file, reloaded when the file changes (checked at scrape time)."""

    def __init__(self, path: Path, always: frozenset[str] = frozenset()) -> None:
        self.reloader = WatchlistReloader(
            path, partial(load_view, always=always), files=lambda view: view.files
        )

    def current(self) -> WatchView:
        self.reloader.reload_if_changed()
        return self.reloader.current
