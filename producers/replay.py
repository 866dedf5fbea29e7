"""The ``replay`` producer: JSON Lines of articles, paced by a rate and/or by their own timeline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Protocol

from producers.intake import Intake
from streams.model.article import parse_time

CHUNK_BYTES = 1 << 20


class Progress(Protocol):
    """The part of tqdm the replay loop uses."""

    def update(self, n: int = 1) -> object: ...


@dataclass
class ReplayClock:
    """When each article is due, in seconds after the replay started; pure, no clock reading.

    ``rate`` (articles/s) spaces articles at least 1/rate apart. ``speedup`` keeps the original
    spacing of published_at divided by X, anchored at the first article that has a time; articles
    without a time, or older than one already sent, go as soon as the rate allows. Due times never
    decrease, so the output order is the input order.
    """

    rate: float | None = None
    speedup: float | None = None
    previous_due: float | None = None
    anchor: tuple[datetime, float] | None = None

    def due(self, event_time: datetime | None) -> float:
        """The due time of the next article, given its published_at (or None)."""
        earliest = 0.0 if self.previous_due is None else self.previous_due
        if self.rate and self.previous_due is not None:
            earliest = self.previous_due + 1.0 / self.rate
        due = earliest
        if self.speedup and event_time is not None:
            if self.anchor is None:
                self.anchor = (event_time, earliest)
            anchor_time, anchor_due = self.anchor
            due = max(earliest, anchor_due + (event_time - anchor_time).total_seconds() / self.speedup)
        self.previous_due = due
        return due


def count_lines(stream: IO[bytes]) -> int:
    """Lines in a seekable stream (for the progress bar's total), leaving it at the start."""
    total = 0
    while chunk := stream.read(CHUNK_BYTES):
        total += chunk.count(b"\n")
    stream.seek(0)
    return total


def iter_nonblank_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for every line that is not blank."""
    for number, line in enumerate(stream, start=1):
        stripped = line.strip()
        if stripped:
            yield number, stripped


def sleep_until(deadline: float, should_stop: Callable[[], bool]) -> None:
    """Sleep until a monotonic deadline, waking often enough to notice a stop request."""
    while not should_stop():
        remaining = deadline - time.monotonic()
        if remaining <= 0.0005:
            return
        time.sleep(min(remaining, 0.25))


def replay_stream(
    intake: Intake,
    stream: IO[bytes],
    name: str,
    clock: ReplayClock,
    progress: Progress,
    should_stop: Callable[[], bool],
) -> None:
    """Publish every valid line of ``stream`` at its due time; bad lines are logged by name:line."""
    started = time.monotonic()
    for number, raw in iter_nonblank_lines(stream):
        if should_stop():
            break
        where = f"{name}:{number}"
        article = intake.accept_json_line(raw, where)
        if article is not None:
            sleep_until(started + clock.due(parse_time(article.published_at)), should_stop)
            intake.send(article, where)
        progress.update(1)
