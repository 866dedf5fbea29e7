"""Is the worker alive, is it ready: pure decisions over facts the probe gathers (worker/health_probe.py)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Verdict:
    """An answer for /livez or /readyz: ok, or the reasons it is not (one line each)."""

    ok: bool
    reasons: tuple[str, ...] = ()

    @staticmethod
    def of(reasons: Sequence[str]) -> Verdict:
        return Verdict(not reasons, tuple(reasons))

    def body(self) -> str:
        return "ok\n" if self.ok else "".join(f"{reason}\n" for reason in self.reasons)


@dataclass(frozen=True, slots=True)
class Limits:
    """How long each kind of silence may last before the worker counts as dead."""

    loop_lag_seconds: float  # the event loop did not run a 0.5 s sleep on time by this much
    stall_seconds: float  # an assigned partition with lag > 0 committed nothing for this long
    probe_seconds: float  # the facts are this old: the probe itself has stopped


@dataclass(slots=True)
class _Seen:
    offset: int
    since: float  # when the partition was first seen at this offset with lag > 0


@dataclass
class ProgressWatch:
    """Which assigned partitions have lag but have not moved for `stall_seconds` (a zombie consumer:
    the process is up, the fetcher or the agent is not). Offsets are committed offsets (next to
    read; the fetch position before the first commit) and end offsets (the broker's, not the
    fetcher's last high watermark)."""

    stall_seconds: float
    _seen: dict[Hashable, _Seen] = field(default_factory=dict)

    def observe(self, now: float, offsets: Mapping[Hashable, tuple[int, int]]) -> list[Hashable]:
        """`offsets`: partition -> (committed, end) for the partitions assigned now; the stalled ones."""
        for gone in self._seen.keys() - offsets.keys():
            del self._seen[gone]  # revoked: another worker owns it now
        stalled = []
        for partition, (committed, end) in offsets.items():
            seen = self._seen.get(partition)
            if end <= committed:
                self._seen.pop(partition, None)
            elif seen is None or seen.offset != committed:
                self._seen[partition] = _Seen(committed, now)
            elif now - seen.since >= self.stall_seconds:
                stalled.append(partition)
        return stalled


@dataclass(frozen=True, slots=True)
class Facts:
    """What the probe last saw, and when (monotonic seconds)."""

    at: float
    dead_agents: tuple[str, ...] = ()
    stalled: tuple[str, ...] = ()  # partitions, as "topic/partition"
    assigned: int = 0
    rebalancing: bool = False
    redis_error: str | None = None
    kafka_error: str | None = None


def liveness(facts: Facts | None, now: float, loop_lag: float, limits: Limits) -> Verdict:
    """503 (restart me) when an agent died, the loop stalled, a partition stalled or the probe stopped.

    Redis or Kafka being away is not a liveness failure: a restart would not bring them back, and the
    worker waits for them without losing anything (readiness says so)."""
    reasons = [f"agent {name} died" for name in (facts.dead_agents if facts else ())]
    if loop_lag > limits.loop_lag_seconds:
        reasons.append(f"event loop stalled {loop_lag:.1f}s (limit {limits.loop_lag_seconds:g}s)")
    if facts is None or now - facts.at > limits.probe_seconds:
        reasons.append("health probe not run for " + ("ever" if facts is None else f"{now - facts.at:.1f}s"))
    elif facts.stalled and not facts.rebalancing:
        reasons.append(f"no progress for {limits.stall_seconds:g}s with lag > 0: " + ", ".join(facts.stalled))
    return Verdict.of(reasons)


def readiness(facts: Facts | None) -> Verdict:
    """200 when the worker consumes: partitions assigned (no rebalance running), Redis and Kafka answer."""
    if facts is None:
        return Verdict.of(["not probed yet"])
    reasons = []
    if facts.rebalancing:
        reasons.append("rebalancing")
    elif facts.assigned == 0:
        reasons.append("no partitions assigned")
    if facts.redis_error is not None:
        reasons.append(f"redis unreachable: {facts.redis_error}")
    if facts.kafka_error is not None:
        reasons.append(f"kafka unreachable: {facts.kafka_error}")
    return Verdict.of(reasons)


@dataclass
class LoopLag:
    """How late the event loop runs a periodic sleep, fed by a ticker task on that loop.

    A lateness over the limit is held for `hold_seconds`, so a probe that asks after a stall (the
    loop could not answer during it) still sees it; a loop blocked right now shows as the time since
    the last tick."""

    interval: float
    hold_seconds: float
    _last_tick: float = 0.0
    _worst: float = 0.0
    _worst_at: float = float("-inf")

    def tick(self, now: float, expected: float) -> None:
        """The ticker woke at `now`, due at `expected`."""
        late = max(0.0, now - expected)
        if late >= self._worst or now - self._worst_at > self.hold_seconds:
            self._worst, self._worst_at = late, now
        self._last_tick = now

    def started(self, now: float) -> None:
        self._last_tick = now

    def lag(self, now: float) -> float:
        held = self._worst if now - self._worst_at <= self.hold_seconds else 0.0
        return max(held, now - self._last_tick - self.interval)


@dataclass
class AgentWatch:
    """Agents whose task ended with an error. Faust's supervisor restarts a crashed actor, but a
    restarted actor is the usual origin of a consumer that stays up and reads nothing (faust-streaming
    #175, #523, #640); the counts live in Redis, so a crashed agent is latched dead and the process is
    replaced (livez 503, no more systemd WATCHDOG=1)."""

    dead: dict[str, str] = field(default_factory=dict)

    def crashed(self, name: str, error: BaseException) -> None:
        self.dead.setdefault(name, f"{type(error).__name__}: {error}")


@contextmanager
def watched(agents: AgentWatch, name: str) -> Iterator[None]:
    """Wrap an agent's body: an error that ends it marks the agent dead, and goes on up to Faust."""
    try:
        yield
    except Exception as err:
        agents.crashed(name, err)
        raise
