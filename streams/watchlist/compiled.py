"""The compiled watchlist (matcher, rules, spikes, receivers) and its atomic hot reload."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.matching.matcher import Matcher
from streams.rules.rule import RuleSet, load_rules
from streams.spikes.detector import SpikeDetector, load_spikes
from streams.watchlist.file import Watchlist, WatchlistError, file_stamp, load_watchlist
from streams.webhooks.receivers import Receiver, load_receivers
from streams.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Engine:
    """Everything the agents need from one watchlist file, built once and swapped whole on reload."""

    watchlist: Watchlist
    matcher: Matcher
    rules: RuleSet
    spikes: tuple[SpikeDetector, ...]
    receivers: Mapping[str, Receiver]

    @property
    def entity_ids(self) -> list[str]:
        return [entity.id for entity in self.watchlist.entities]


def build_engine(path: Path, env: Mapping[str, str] | None = None) -> Engine:
    """Load and compile a watchlist; raises WatchlistError naming the file, the entry and the problem."""
    watchlist = load_watchlist(path)
    ids = [entity.id for entity in watchlist.entities]
    try:
        receivers = load_receivers(watchlist.webhooks, env if env is not None else os.environ)
        rules = load_rules(watchlist.rules, ids, receivers)
        spikes = load_spikes(watchlist.spikes, ids, receivers)
    except ValueError as err:
        raise WatchlistError(f"{path}: {err}") from err
    matcher = watchlist.matcher()
    return Engine(watchlist, matcher, rules, tuple(spikes), receivers)


class EngineHolder:
    """Holds the active engine; a reload that fails leaves the old one in force."""

    def __init__(self, path: Path, metrics: WorkerMetrics) -> None:
        self.path = path
        self.metrics = metrics
        self.current = build_engine(path)
        self._stamp = file_stamp(path)
        self._announce()

    def reload(self) -> bool:
        self._stamp = file_stamp(self.path)
        try:
            engine = build_engine(self.path)
        except (OSError, ValueError) as err:
            self.metrics.reloads.labels("error").inc()
            log.error("watchlist reload rejected, keeping the previous one: %s", err)
            return False
        self.current = engine
        self.metrics.reloads.labels("ok").inc()
        self._announce()
        return True

    def reload_if_changed(self) -> bool:
        return self.reload() if file_stamp(self.path) != self._stamp else False

    def _announce(self) -> None:
        self.metrics.watch_entities(self.current.entity_ids)
        self.metrics.watch_receivers(self.current.receivers)
        log.info("watchlist %s: %d entities, %d rules, %d spike detectors, %d receivers", self.path,
                 len(self.current.entity_ids), len(self.current.rules.rules), len(self.current.spikes),
                 len(self.current.receivers))  # fmt: skip
