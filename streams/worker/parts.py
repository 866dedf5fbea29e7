"""WorkerParts: what `build` makes and `agents` wires to Faust (apart, so the two import it, not each other)."""

from __future__ import annotations

from dataclasses import dataclass

from streams.store.counts import RollingCounts
from streams.watchlist.compiled import CompiledWatchlist
from streams.watchlist.reload import WatchlistReloader
from streams.worker.delivery_step import DeliveryStep
from streams.worker.health_probe import HealthProbe
from streams.worker.metrics import WorkerMetrics
from streams.worker.outbox import Outbox
from streams.worker.tag_step import TagStep


@dataclass(frozen=True, slots=True)
class WorkerParts:
    """Everything the agents use, made in dependency order: nothing is patched in afterwards."""

    metrics: WorkerMetrics
    watchlist: WatchlistReloader[CompiledWatchlist]
    counts: RollingCounts
    outbox: Outbox
    tag: TagStep
    delivery: DeliveryStep
    health: HealthProbe
