"""The Faust agents, timers and /metrics page of the worker, wired to the parts `build` made."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

import faust
from aiohttp.web import Response
from aiokafka.errors import IllegalStateError
from faust.streams import Stream
from faust.web import Request, View
from faust.web import Response as WebResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.model.settings import Settings
from streams.worker.drain import DrainDeadline, begin_on_stop
from streams.worker.faust_shims import caught_up_partitions, highwater_of
from streams.worker.health import Verdict, watched
from streams.worker.health_probe import PROBE_SECONDS, watchdog_interval
from streams.worker.metrics import WorkerMetrics
from streams.worker.parts import WorkerParts
from streams.worker.sd_notify import Notifier

log = logging.getLogger(__name__)


def install_agents(app: faust.App, parts: WorkerParts, settings: Settings) -> None:
    """The tag and deliver agents, the clock, watchlist and lag timers, /metrics, /livez, /readyz."""
    install_tag_agent(app, parts, settings)
    install_deliver_agent(app, parts, settings)
    install_timers(app, parts, settings)
    install_health(app, parts, settings)

    @app.page("/metrics")
    async def metrics_page(view: View, request: Request) -> WebResponse:
        body = generate_latest(parts.metrics.registry)
        return cast(WebResponse, Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST}))


def install_health(app: faust.App, parts: WorkerParts, settings: Settings) -> None:
    """The probe's timer and loop ticker, its two pages, the drain deadline, and systemd's watchdog."""
    health = parts.health

    @app.timer(interval=PROBE_SECONDS)
    async def probe_health() -> None:
        try:
            await health.probe()
        except Exception:  # an error in a timer crashes Faust's app; stale facts fail /livez instead
            log.exception("health probe failed")

    @app.task
    async def tick_loop() -> None:
        await health.tick_forever()

    @app.page("/livez")
    async def livez(view: View, request: Request) -> WebResponse:
        return verdict_response(health.live())

    @app.page("/readyz")
    async def readyz(view: View, request: Request) -> WebResponse:
        return verdict_response(health.ready())

    notifier = Notifier(settings.notify_socket)
    deadline = DrainDeadline(settings.worker_drain_seconds, notifier)

    @app.task
    async def drain_deadline() -> None:
        await begin_on_stop(app, deadline)

    if notifier.enabled:

        @app.task
        async def watchdog() -> None:
            await health.notify_forever(notifier, watchdog_interval(settings.watchdog_usec))


def verdict_response(verdict: Verdict) -> WebResponse:
    response = Response(text=verdict.body(), status=200 if verdict.ok else 503)
    return cast(WebResponse, response)


def install_tag_agent(app: faust.App, parts: WorkerParts, settings: Settings) -> None:
    articles = app.topic(settings.topic_articles, key_type=bytes, value_type=bytes, value_serializer="raw")
    size, within = settings.worker_batch_size, settings.worker_batch_within_seconds

    @app.agent(articles, name="newsmon.tag")
    async def tag(stream: faust.StreamT[bytes]) -> None:
        with watched(parts.health.agents, "newsmon.tag"):
            async for events in cast(Stream[bytes], stream).take_events(size, within=within):
                await injected_fault(settings.fault_tag_agent)
                # Faust acks (and later commits) a batch even when this body raises, so never let it raise.
                await until_done(partial(parts.tag.run, [event.message for event in events]), parts.metrics)


def install_deliver_agent(app: faust.App, parts: WorkerParts, settings: Settings) -> None:
    alerts = app.topic(settings.topic_alerts, key_type=bytes, value_type=bytes, value_serializer="raw")

    @app.agent(alerts, name="newsmon.deliver")
    async def deliver(stream: faust.StreamT[bytes]) -> None:
        # One alert at a time per worker: a failing receiver delays later alerts instead of reordering them.
        with watched(parts.health.agents, "newsmon.deliver"):
            async for event in stream.events():
                message = event.message
                run = partial(
                    parts.delivery.run, message.key, message.value, message.partition, message.offset
                )
                await until_done(run, parts.metrics)


def install_timers(app: faust.App, parts: WorkerParts, settings: Settings) -> None:
    @app.timer(interval=1.0)
    async def advance_clock() -> None:
        await parts.tag.tick(caught_up_partitions(app, settings.topic_articles))

    @app.timer(interval=1.0)
    async def resend_firing_spikes() -> None:
        # Wall clock: Alertmanager ends an alert by its endsAt in wall time, whatever the stream's.
        await until_done(parts.delivery.resend_due, parts.metrics)

    @app.timer(interval=2.0)
    async def watch_watchlist() -> None:
        await parts.watchlist.reload_in_thread_if_changed()  # built beside the loop, swapped on it

    reported: set[tuple[str, str]] = set()

    @app.timer(interval=5.0)
    async def report_lag() -> None:
        current: set[tuple[str, str]] = set()
        for tp in app.consumer.assignment():
            try:
                position = await app.consumer.position(tp)
            except IllegalStateError:  # revoked by a rebalance meanwhile; an error here would crash the app
                continue
            highwater = highwater_of(app, tp)  # None until the partition's first fetch
            if position is not None and highwater is not None:
                labels = (tp.topic, str(tp.partition))
                parts.metrics.lag.labels(*labels).set(max(0, highwater - position))
                current.add(labels)
        # Partitions revoked in a rebalance now belong to another worker, which reports them.
        for labels in reported - current:
            parts.metrics.lag.remove(*labels)
        reported.clear()
        reported.update(current)

    @app.task
    async def on_start() -> None:
        app.loop.add_signal_handler(signal.SIGHUP, parts.watchlist.reload_soon)
        log.info("newsmon worker: %d entities, windows %s min", len(parts.watchlist.current.entity_ids),
                 parts.counts.windows)  # fmt: skip


async def injected_fault(fault: str) -> None:
    """NEWSMON_FAULT_TAG_AGENT, for the health tests only: end the agent's task, or hang it."""
    if fault == "crash":
        raise RuntimeError("NEWSMON_FAULT_TAG_AGENT=crash: the tag agent's task ends here (test-only)")
    if fault == "stall":
        log.warning("NEWSMON_FAULT_TAG_AGENT=stall: the tag agent waits forever (test-only)")
        await asyncio.Event().wait()


async def until_done(step: Callable[[], Awaitable[Any]], metrics: WorkerMetrics) -> None:
    """Run a batch step until it succeeds: an unexpected error stalls the partition (visible in the
    lag and in newsmon_batch_failures_total) instead of silently losing the batch."""
    delay = 0.5
    while True:
        try:
            await step()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.batch_failures.inc()
            log.exception("batch failed; retrying in %.1fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
