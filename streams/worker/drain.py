"""SIGTERM's bounded drain: Faust stops fetching, finishes and commits; past the deadline, exit anyway."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

import faust

from streams.worker.sd_notify import Notifier

log = logging.getLogger(__name__)
DRAIN_TIMED_OUT = 75  # exit status when the deadline cut the drain short (EX_TEMPFAIL)


class DrainDeadline:
    """On SIGTERM Faust's own stop already drains: it stops the fetcher and waits for the messages
    the agents started (the current batch is counted, published and acknowledged; an alert being
    delivered is delivered), commits, flushes the producer and leaves the group. What it lacks is a
    bound: a batch stuck on a Redis outage, or a receiver in its retries, would hold the stop until
    systemd's TimeoutStopSec or Kubernetes' grace period SIGKILLs it. The deadline exits first, in a
    thread so a blocked loop cannot hold it; whatever was not committed is redelivered to the worker
    that takes the partitions over, and the seen and delivered markers keep it from counting twice."""

    def __init__(self, seconds: float, notifier: Notifier) -> None:
        self.seconds = seconds
        self.notifier = notifier
        self.began: float | None = None

    def begin(self) -> None:
        if self.began is not None:
            return
        self.began = time.monotonic()
        self.notifier.send("STOPPING=1", f"STATUS=draining (at most {self.seconds:g}s)")
        log.info("stopping: draining the current batch and in-flight alerts, at most %.0fs", self.seconds)
        timer = threading.Timer(self.seconds, self.expire)
        timer.daemon = True  # a drain that finishes in time exits without it
        timer.start()

    def expire(self) -> None:
        log.error("drain not finished after %.0fs: exiting; uncommitted messages will be redelivered",
                  self.seconds)  # fmt: skip
        logging.shutdown()
        os._exit(DRAIN_TIMED_OUT)


async def begin_on_stop(app: faust.App, deadline: DrainDeadline, poll: float = 0.2) -> None:
    """Start the deadline as soon as the app begins stopping (mode's SIGTERM handler stops it)."""
    while not app.should_stop:
        await asyncio.sleep(poll)
    deadline.begin()
