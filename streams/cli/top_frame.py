"""What `python -m streams.top` shows, from numbers already read (pure): sparklines, rates, the rich frame."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.table import Table
from rich.text import Text

from streams.model.alert import Alert
from streams.model.minutes import to_seconds
from streams.model.precision import DAY_MINUTES

SPARK = "▁▂▃▄▅▆▇█"
HOUR = 60  # minutes of history behind each sparkline
DAY = DAY_MINUTES  # the 24-hour column: the shortest window that holds day-precision articles
Counters = dict[tuple[str, str], float]  # (metric family, label value) -> summed value


def sparkline(values: Sequence[int]) -> str:
    """One block character per value, scaled to the largest; a blank for zero so silence is visible."""
    peak = max(values, default=0)
    if peak <= 0:
        return " " * len(values)
    return "".join(
        " " if v <= 0 else SPARK[min(len(SPARK) - 1, (v * len(SPARK) - 1) // peak)] for v in values
    )


def minute_series(
    minutes: Mapping[int, Mapping[str, int]], entity: str, clock: int, span: int = HOUR
) -> list[int]:
    """Mentions of `entity` in each of the `span` minutes ending at the clock, oldest first."""
    return [minutes.get(m, {}).get(entity, 0) for m in range(clock - span + 1, clock + 1)]


@dataclass(frozen=True, slots=True)
class EntityRow:
    entity: str
    mentions: int  # in the last hour
    series: list[int]
    day: int = 0  # mentions in the last 24 hours, day-precision articles included
    stories: int = 0  # distinct stories in the hour (docs/stories.md)


def entity_rows(
    hour: Mapping[str, int],
    minutes: Mapping[int, Mapping[str, int]],
    clock: int,
    n: int,
    day: Mapping[str, int] | None = None,
    stories_hour: Mapping[str, int] | None = None,
) -> list[EntityRow]:
    """The n entities with the most mentions in the hour, then in the day (so an entity mentioned only
    by date-only articles still shows), ties by id; with their stories and per-minute mentions."""
    day = day or {}
    stories = stories_hour or {}
    ranked = sorted(
        (e for e in {*hour, *day} if hour.get(e, 0) > 0 or day.get(e, 0) > 0),
        key=lambda e: (-hour.get(e, 0), -day.get(e, 0), e),
    )
    return [
        EntityRow(e, hour.get(e, 0), minute_series(minutes, e, clock), day.get(e, 0), stories.get(e, 0))
        for e in ranked[:n]
    ]


# The counters the rates table shows: (metric family as the parser names it, the label that splits it).
WATCHED = {
    "newsmon_articles": "outcome",
    "newsmon_alerts_raised": "kind",
    "newsmon_webhook_deliveries": "outcome",
}
LAG = "newsmon_consumer_lag_messages"


def parse_counters(text: str) -> Counters:
    """Sum the watched counters (and the lag gauge) by their splitting label over every series."""
    out: Counters = {}
    for family in text_string_to_metric_families(text):
        label = WATCHED.get(family.name)
        for sample in family.samples:
            if label is not None and sample.name == family.name + "_total":
                key = (family.name, sample.labels.get(label, ""))
            elif family.name == LAG:
                key = (LAG, "")
            else:
                continue
            out[key] = out.get(key, 0.0) + sample.value
    return out


def add_counters(readings: Iterable[Counters]) -> Counters:
    total: Counters = {}
    for reading in readings:
        for key, value in reading.items():
            total[key] = total.get(key, 0.0) + value
    return total


def per_second(before: Counters, after: Counters, seconds: float) -> dict[tuple[str, str], float]:
    """Counter increase per second between two readings (a restart that resets a counter counts from 0)."""
    rates = {}
    for key, value in after.items():
        if key[0] == LAG:
            continue
        previous = before.get(key, 0.0)
        rates[key] = (value - previous if value >= previous else value) / seconds
    return rates


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything one screen shows; `problems` lists sources that could not be read."""

    clock_minute: int
    entities: list[EntityRow]
    alerts: list[Alert]
    totals: Counters
    rates: dict[tuple[str, str], float]
    problems: list[str] = field(default_factory=list)


def clock_text(clock_minute: int) -> str:
    if clock_minute < 0:
        return "stream clock: nothing counted yet"
    return "stream clock: " + datetime.fromtimestamp(to_seconds(clock_minute), UTC).strftime(
        "%Y-%m-%d %H:%M UTC"
    )


def entities_table(rows: list[EntityRow]) -> Table:
    table = Table(title="Top entities, last hour of stream time", title_justify="left", expand=False)
    table.add_column("#", justify="right")
    table.add_column("entity")
    table.add_column("1h", justify="right")
    table.add_column("24h", justify="right")
    table.add_column("stories", justify="right")
    table.add_column("per minute, last 60 min", no_wrap=True)
    for rank, row in enumerate(rows, start=1):
        table.add_row(
            str(rank), row.entity, str(row.mentions), str(row.day), str(row.stories), sparkline(row.series)
        )
    return table


def alerts_table(alerts: list[Alert]) -> Table:
    table = Table(title="Latest alerts", title_justify="left")
    for column in ("starts at (UTC)", "kind", "status", "rule", "entity", "severity", "count"):
        table.add_column(column)
    for alert in alerts:
        table.add_row(
            alert.starts_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), alert.kind, alert.status, alert.rule_id,
            alert.entity or "", alert.severity, "" if alert.count is None else str(alert.count),
        )  # fmt: skip
    return table


def rates_table(totals: Counters, rates: dict[tuple[str, str], float]) -> Table:
    table = Table(title="Pipeline (workers' /metrics)", title_justify="left")
    for column in ("counter", "label", "total", "per second"):
        table.add_column(column, justify="right" if column in ("total", "per second") else "left")
    for (name, label), total in sorted(totals.items()):
        rate = rates.get((name, label))
        shown = "" if rate is None else f"{rate:.1f}"
        table.add_row(name.removeprefix("newsmon_"), label, f"{total:.0f}", shown)
    return table


def render(frame: Frame) -> Group:
    parts: list[Text | Table] = [Text(clock_text(frame.clock_minute), style="bold")]
    parts += [
        entities_table(frame.entities),
        alerts_table(frame.alerts),
        rates_table(frame.totals, frame.rates),
    ]
    parts += [Text(f"unavailable: {problem}", style="red") for problem in frame.problems]
    return Group(*parts)
