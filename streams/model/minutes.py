"""THE time units of the counts: event minutes are whole UTC minutes since the epoch; spans in seconds.

Redis buckets, the stream clock and the Lua scripts speak minutes; spike detectors and alerts speak
unix seconds. Every conversion between the two goes through here.
"""

from __future__ import annotations

from datetime import datetime

MINUTE = 60  # seconds


def minute_of(moment: datetime) -> int:
    """UTC minutes since the epoch: the bucket an event time falls in."""
    return int(moment.timestamp()) // MINUTE


def minute_start(seconds: float) -> int:
    """Start (unix seconds) of the minute containing ``seconds``."""
    return int(seconds // MINUTE) * MINUTE


def to_minutes(seconds: int) -> int:
    """Whole minutes in a span or an instant given in seconds (a minute start, a window length)."""
    return seconds // MINUTE


def to_seconds(minutes: int) -> int:
    """Seconds in ``minutes``; of a minute number, its start in unix seconds."""
    return minutes * MINUTE
