"""The facts streams.worker.health judges (consumer, Redis, Kafka, the loop), gathered for /livez, /readyz and systemd."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable, Mapping

import faust
import redis.asyncio as aioredis

from streams.model.settings import Settings
from streams.worker.faust_shims import committed_offsets
from streams.worker.health import (
    AgentWatch,
    Facts,
    Limits,
    LoopLag,
    ProgressWatch,
    Verdict,
    liveness,
    readiness,
)
from streams.worker.sd_notify import Notifier

log = logging.getLogger(__name__)
PROBE_SECONDS = 5.0  # how often the facts are gathered
TICK_SECONDS = 0.5  # the loop-lag ticker's sleep
# A Redis PING or a Kafka ListOffsets slower than this counts as unreachable. The Kafka calls queue on
# Faust's consumer thread behind its fetches and took up to ~2.5 s on the loaded test machine.
CALL_TIMEOUT = 4.0


class HealthProbe:
    """Facts every PROBE_SECONDS; /livez, /readyz and the watchdog read the last ones (no I/O per request)."""

    def __init__(self, app: faust.App, redis: aioredis.Redis, settings: Settings) -> None:
        self.app = app
        self.redis = redis
        self.topic = settings.topic_articles  # the tag agent's; alert delivery may wait on receivers
        self.limits = Limits(
            loop_lag_seconds=settings.worker_loop_lag_seconds,
            stall_seconds=settings.worker_stall_seconds,
            probe_seconds=max(15.0, 3 * PROBE_SECONDS + 2 * CALL_TIMEOUT),
        )
        self.agents = AgentWatch()
        self.progress = ProgressWatch(settings.worker_stall_seconds)
        self.loop = LoopLag(TICK_SECONDS, hold_seconds=max(30.0, 2 * settings.worker_loop_lag_seconds))
        self.facts: Facts | None = None

    def live(self) -> Verdict:
        now = time.monotonic()
        return liveness(self.facts, now, self.loop.lag(now), self.limits)

    def ready(self) -> Verdict:
        return readiness(self.facts)

    async def tick_forever(self) -> None:
        """Sleep TICK_SECONDS again and again, noting how late each wake-up is."""
        self.loop.started(time.monotonic())
        while True:
            due = time.monotonic() + TICK_SECONDS
            await asyncio.sleep(TICK_SECONDS)
            self.loop.tick(time.monotonic(), due)

    async def notify_forever(self, notifier: Notifier, interval: float) -> None:
        """READY=1 once the worker is first live and ready, then WATCHDOG=1 every `interval` while it
        is live: systemd restarts a worker whose checks fail for WatchdogSec (or whose loop stalls)."""
        ready_sent, status = False, ""
        while True:
            live = self.live()
            if live.ok:
                notifier.send("WATCHDOG=1")
            if not ready_sent and live.ok and self.ready().ok:
                ready_sent = notifier.send("READY=1")
            now_status = "STATUS=" + ("consuming" if live.ok else "not live: " + "; ".join(live.reasons))
            if now_status != status:
                notifier.send(now_status)
                status = now_status
            await asyncio.sleep(interval)

    async def probe(self) -> Facts:
        assigned = [tp for tp in self.app.consumer.assignment() if tp.topic == self.topic]
        redis_error, (ends, kafka_error) = await asyncio.gather(
            self._ping_redis(), self._end_offsets(assigned)
        )
        stalled: list[Hashable] = []
        if redis_error is None and kafka_error is None:
            try:
                offsets = await self._progress(assigned, ends)
            except Exception as err:  # e.g. a partition revoked since assignment() (IllegalStateError)
                log.info("health probe: progress skipped this round (%s)", describe(err))
            else:
                stalled = self.progress.observe(time.monotonic(), offsets)
        else:
            # Waiting for Redis or Kafka is not a stall: a restart would not help. Start over after.
            self.progress.observe(time.monotonic(), {})
        self.facts = Facts(
            at=time.monotonic(), dead_agents=tuple(self.agents.dead), stalled=tuple(map(str, stalled)),
            assigned=len(assigned), rebalancing=bool(self.app.rebalancing), redis_error=redis_error,
            kafka_error=kafka_error,
        )  # fmt: skip
        return self.facts

    async def _progress(
        self, assigned: list[faust.types.TP], ends: Mapping[faust.types.TP, int]
    ) -> dict[Hashable, tuple[int, int]]:
        """partition -> (committed offset, end offset). A partition the group never committed counts
        from the log's start (where `auto_offset_reset=earliest` reads from): a topic whose messages
        all expired is not behind, one whose first batch never finishes is."""
        committed = committed_offsets(self.app)
        never = [tp for tp in assigned if committed.get(tp) is None]
        starts = (
            await asyncio.wait_for(self.app.consumer.earliest_offsets(*never), CALL_TIMEOUT) if never else {}
        )
        return {
            f"{tp.topic}/{tp.partition}": (committed.get(tp) or starts.get(tp, 0), ends[tp])
            for tp in assigned
            if tp in ends
        }

    async def _ping_redis(self) -> str | None:
        try:
            await asyncio.wait_for(self.redis.ping(), CALL_TIMEOUT)
        except Exception as err:  # any failure to answer is the fact reported
            return describe(err)
        return None

    async def _end_offsets(
        self, assigned: list[faust.types.TP]
    ) -> tuple[dict[faust.types.TP, int], str | None]:
        if not assigned:
            return {}, None
        try:
            ends = await asyncio.wait_for(self.app.consumer.highwaters(*assigned), CALL_TIMEOUT)
        except Exception as err:  # as above
            return {}, describe(err)
        return dict(ends), None


def watchdog_interval(watchdog_usec: int | None) -> float:
    """Half of systemd's WatchdogSec (sd_watchdog_enabled(3) advice); 5 s when no watchdog is set."""
    return 5.0 if watchdog_usec is None else watchdog_usec / 2_000_000


def describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
