"""The compiled watchlist: matcher, rules, spike detectors and receivers built from one file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.digests.schedule import Digest, load_digests
from streams.matching.matcher import Matcher
from streams.rules.rule import RuleSet, load_rules
from streams.spikes.detector import SpikeDetector
from streams.spikes.spec import load_spikes
from streams.watchlist.entity_files import DEFAULT_MAX_BYTES
from streams.watchlist.file import Watchlist, WatchlistError, load_watchlist
from streams.watchlist.gc_pause import collector_paused
from streams.webhooks.alertmanager_receiver import AnyReceiver, load_receiver_section


@dataclass(frozen=True, slots=True)
class CompiledWatchlist:
    """Everything the agents need from one watchlist file, built once and swapped whole on reload
    (streams.watchlist.reload)."""

    watchlist: Watchlist
    matcher: Matcher
    rules: RuleSet
    spikes: tuple[SpikeDetector, ...]
    receivers: Mapping[str, AnyReceiver]
    digests: tuple[Digest, ...] = ()

    @property
    def entity_ids(self) -> list[str]:
        return [entity.id for entity in self.watchlist.entities]


def compile_watchlist(
    path: Path, env: Mapping[str, str] | None = None, max_entity_file_bytes: int = DEFAULT_MAX_BYTES
) -> CompiledWatchlist:
    """Load and compile a watchlist; raises WatchlistError naming the file, the entry and the problem."""
    with collector_paused():
        return _compile(path, env, max_entity_file_bytes)


def _compile(path: Path, env: Mapping[str, str] | None, max_entity_file_bytes: int) -> CompiledWatchlist:
    watchlist = load_watchlist(path, max_entity_file_bytes)
    ids = [entity.id for entity in watchlist.entities]
    try:
        receivers = load_receiver_section(watchlist.webhooks, env if env is not None else os.environ)
        rules = load_rules(watchlist.rules, ids, receivers)
        spikes = load_spikes(watchlist.spikes, ids, receivers)
        digests = load_digests(watchlist.digests, ids, [rule.id for rule in rules.rules], receivers)
    except ValueError as err:
        raise WatchlistError(f"{path}: {err}") from err
    matcher = watchlist.matcher()
    return CompiledWatchlist(watchlist, matcher, rules, tuple(spikes), receivers, digests)
