"""The ``digests`` watchlist section and its schedule on the stream clock: periods, which ones closed, stable ids."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from streams.model.spec import SpecError, SpecId, load_list_section
from streams.model.validation import describe_validation_error

Every = Literal["hourly", "daily"]
MAX_PERIODS_PER_ADVANCE = 10_000  # a clock jump over more periods than this is an error, not a loop


@dataclass(frozen=True, slots=True)
class Period:
    """One digest period, [start, end) in UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """Hourly (at each local hour) or daily (at ``at`` local time) in the time zone ``tz``.

    Local times follow the zone's rules: a daily time that does not exist one day (clocks go
    forward over it) falls that much later, 02:30 → 03:30; one that happens twice (clocks go back)
    is the first of the two. A day is then 23 or 25 hours long.
    """

    every: Every
    at: time
    tz: ZoneInfo

    def period_containing(self, moment: datetime) -> Period:
        """The period that the (aware) instant ``moment`` falls in."""
        local = moment.astimezone(self.tz)
        if self.every == "hourly":
            start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
            return Period(start, start + timedelta(hours=1))
        today = self._boundary(local.date())
        if moment >= today:
            return Period(today, self._boundary(local.date() + timedelta(days=1)))
        return Period(self._boundary(local.date() - timedelta(days=1)), today)

    def _boundary(self, day: date) -> datetime:
        return datetime.combine(day, self.at, tzinfo=self.tz).astimezone(UTC)

    def closed_between(self, before: datetime, after: datetime) -> Iterator[Period]:
        """Periods that ended when the stream clock moved from ``before`` to ``after``: before < end ≤ after.

        Feeding each clock advance in turn yields every period exactly once, in order, also when
        a replay jumps the clock over several of them.
        """
        period = self.period_containing(before)
        for _ in range(MAX_PERIODS_PER_ADVANCE):
            if period.end > after:
                return
            yield period
            period = self.period_containing(period.end)
        raise ValueError(f"the stream clock jumped over more than {MAX_PERIODS_PER_ADVANCE} digest periods")

    def label(self, period: Period) -> str:
        """The period as people say it, in the digest's zone: ``2016-10-22`` or ``2016-10-22 09:00``."""
        local = period.start.astimezone(self.tz)
        text = local.strftime("%Y-%m-%d") if self.every == "daily" else local.strftime("%Y-%m-%d %H:%M")
        return f"{text} {self.tz.key}"


def digest_id(digest: str, period: Period) -> str:
    """Same digest and period → same id, in every replay; a redelivery is recognised by it."""
    stamp = period.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return hashlib.sha256("\x1f".join(("digest", digest, stamp)).encode()).hexdigest()[:32]


# --- the watchlist section -----------------------------------------------------------------------------


class DigestSpec(BaseModel):
    """One entry of the watchlist's ``digests`` section (docs/alertmanager.md, "Digests")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SpecId
    every: Every = "daily"
    at: str | None = None  # daily only, HH:MM local time; default 00:00
    tz: str = "UTC"
    entities: list[str] | Literal["*"] | None = None
    rules: list[str] | None = None
    top: StrictInt = Field(default=5, ge=1, le=50)
    stories: StrictInt = Field(default=3, ge=1, le=20)  # top stories per line
    send_empty: bool = False  # an empty period sends an explicit "nothing new" digest
    webhooks: list[str] | None = None

    @field_validator("at")
    @classmethod
    def _clock_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_clock_time(value)
        return value

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value


def parse_clock_time(text: str) -> time:
    """``HH:MM`` on a 24-hour clock."""
    hours, sep, minutes = text.partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and (hours + minutes).isdigit()):
        raise ValueError(f"{text!r} is not a time written HH:MM")
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f"{text!r} is not a time of day (00:00-23:59)")
    return time(int(hours), int(minutes))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. UTC, Asia/Baghdad)") from None


@dataclass(frozen=True, slots=True)
class Digest:
    """A validated digest: what it covers (None = every entity), its schedule and receivers."""

    id: str
    schedule: DigestSchedule
    entities: frozenset[str] | None
    rules: tuple[str, ...]
    top: int
    send_empty: bool
    receivers: tuple[str, ...]
    stories: int = 3


class DigestError(SpecError):
    """A bad entry in the ``digests`` section."""


def load_digests(
    raw: Sequence[Any], entities: Collection[str], rules: Collection[str], receivers: Collection[str]
) -> tuple[Digest, ...]:
    """Validate the ``digests`` section; raises DigestError naming the entry and the problem."""
    return load_list_section(
        raw,
        "digests",
        "digests",
        DigestError,
        lambda label, item: _load(label, item, entities, rules, receivers),
    )


def _load(
    label: str, item: Any, entities: Collection[str], rules: Collection[str], receivers: Collection[str]
) -> Digest:
    if not isinstance(item, Mapping):
        raise DigestError(label, "must be a mapping with id and a schedule")
    try:
        spec = DigestSpec.model_validate(item)
    except ValidationError as exc:
        raise DigestError(label, describe_validation_error(exc)) from None
    try:
        return _compile(spec, entities, rules, receivers)
    except ValueError as exc:
        raise DigestError(label, str(exc)) from None


def _compile(
    spec: DigestSpec, entities: Collection[str], rules: Collection[str], receivers: Collection[str]
) -> Digest:
    if spec.every == "hourly" and spec.at is not None:
        raise ValueError("at: only daily digests have a time of day (hourly ones close on each hour)")
    if spec.entities is None and spec.rules is None:
        raise ValueError('say what the digest covers: entities (a list or "*") and/or rules')
    covered = None if spec.entities == "*" else frozenset(spec.entities or ())
    _check_known("entity", sorted(covered or ()), entities)
    _check_known("rule", spec.rules or (), rules)
    _check_known("webhook receiver", spec.webhooks or (), receivers)
    schedule = DigestSchedule(spec.every, parse_clock_time(spec.at or "00:00"), zone(spec.tz))
    return Digest(
        id=spec.id,
        schedule=schedule,
        entities=covered,
        rules=tuple(spec.rules or ()),
        top=spec.top,
        send_empty=spec.send_empty,
        stories=spec.stories,
        receivers=tuple(sorted(receivers)) if spec.webhooks is None else tuple(spec.webhooks),
    )


def _check_known(kind: str, wanted: Collection[str], known: Collection[str]) -> None:
    for name in wanted:
        if name not in known:
            raise ValueError(f"unknown {kind} {name!r}")
