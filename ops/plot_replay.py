#!/usr/bin/env python3
"""Plot a replay's entity counts and spike ratios from Prometheus into a PNG (a dashboard screenshot substitute).

    .venv/bin/python ops/plot_replay.py --since 5m --out docs/img/replay.png \
        [--prometheus http://127.0.0.1:9090] [--selector 'e2e="abc123"'] [--window 1h] [--top 8]

It reads the exporter's series with query_range over the wall-clock span of the replay and draws
them against the stream clock (event time), so a replay of three days that took a minute shows as
three days: what the dashboard would have shown live. Needs matplotlib (dev extras).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

Series = list[tuple[dict[str, str], dict[float, float]]]  # (labels, wall time -> value)
DURATION = re.compile(r"(\d+)([smhd])")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


# --- pure ---------------------------------------------------------------------------------------------


def parse_duration(text: str) -> int:
    """'90s', '5m', '2h', '1d' -> seconds."""
    match = DURATION.fullmatch(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: write a duration like 90s, 5m, 2h or 1d")
    return int(match[1]) * SECONDS[match[2]]


def selector(*matchers: str) -> str:
    """A PromQL label selector from non-empty matchers."""
    return "{" + ", ".join(m for m in matchers if m) + "}"


def to_series(result: Sequence[Mapping[str, object]]) -> Series:
    """A query_range matrix as (labels, {wall time: value}), NaN samples dropped."""
    out: Series = []
    for item in result:
        values = item["values"]
        assert isinstance(values, list)
        points = {float(t): float(v) for t, v in values if v != "NaN"}
        labels = item["metric"]
        assert isinstance(labels, dict)
        out.append((dict(labels), points))
    return out


def against_clock(
    points: Mapping[float, float], clock: Mapping[float, float]
) -> tuple[list[datetime], list[float]]:
    """Re-key a series from wall time to the stream clock read at the same instant (a worker reports 0
    before it counted anything: such instants are left out)."""
    xs, ys = [], []
    for wall in sorted(points):
        if clock.get(wall, 0.0) > 0:
            xs.append(datetime.fromtimestamp(clock[wall], UTC))
            ys.append(points[wall])
    return xs, ys


def top_series(series: Series, label: str, n: int) -> Series:
    """The n series with the highest peak, highest first (ties by label value)."""
    return sorted(series, key=lambda s: (-max(s[1].values(), default=0.0), s[0].get(label, "")))[:n]


# --- I/O ----------------------------------------------------------------------------------------------


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> Series:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as response:
        reply = json.loads(response.read())
    if reply.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {expr!r}: {reply}")
    return to_series(reply["data"]["result"])


def plot(args: argparse.Namespace) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    end = time.time()
    start = end - args.since
    sel = selector(args.selector)
    with_window = selector(f'window="{args.window}"', args.selector)
    clock_series = query_range(
        args.prometheus, f"max(newsmon_stream_clock_seconds{sel})", start, end, args.step
    )
    if not clock_series:
        raise SystemExit(
            f"no newsmon_stream_clock_seconds{sel} in the last {args.since}s: is the exporter scraped?"
        )
    clock = clock_series[0][1]
    counts = query_range(args.prometheus, f"max by (entity) (newsmon_entity_mentions_window{with_window})",
                         start, end, args.step)  # fmt: skip
    ratios = query_range(
        args.prometheus, f"max by (spike, entity) (newsmon_spike_ratio{sel})", start, end, args.step
    )
    thresholds = query_range(args.prometheus, f"max by (spike) (newsmon_spike_threshold_ratio{sel})", start, end,
                             args.step)  # fmt: skip

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 8), sharex=True, height_ratios=(3, 2))
    for labels, points in top_series(counts, "entity", args.top):
        top.plot(*against_clock(points, clock), label=labels.get("entity", "?"), linewidth=1.6)
    top.set_ylabel(f"mentions in the last {args.window}")
    top.set_title(args.title or f"newsmon replay: entity mentions ({args.window} window) against stream time")
    top.legend(loc="upper left", ncol=4, fontsize=9)
    top.grid(alpha=0.3)
    for labels, points in top_series(ratios, "entity", args.top):
        bottom.plot(*against_clock(points, clock), label=f"{labels.get('spike')} / {labels.get('entity')}")
    for labels, points in thresholds:
        bottom.axhline(
            max(points.values()), linestyle="--", color="grey", label=f"{labels.get('spike')} threshold"
        )
    bottom.set_ylabel("spike ratio (window / baseline)")
    bottom.set_xlabel("stream clock (UTC, event time)")
    bottom.grid(alpha=0.3)
    if ratios or thresholds:
        bottom.legend(loc="upper left", fontsize=9)
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    fig.autofmt_xdate()
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    return Path(args.out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--prometheus", default=os.environ.get("NEWSMON_PROMETHEUS_URL", "http://127.0.0.1:9090")
    )
    parser.add_argument("--since", type=parse_duration, default=parse_duration("10m"),
                        help="wall-clock span to read, ending now (the replay's duration or more)")  # fmt: skip
    parser.add_argument("--selector", default="", help='extra label matchers, e.g. instance="127.0.0.1:9108"')
    parser.add_argument("--window", default="1h", choices=("1m", "5m", "1h", "24h"))
    parser.add_argument("--top", type=int, default=8, help="entities drawn (highest peaks)")
    parser.add_argument("--step", type=float, default=1.0, help="query step, seconds")
    parser.add_argument("--title", default="")
    parser.add_argument("--out", type=Path, default=Path("docs/img/replay.png"))
    out = plot(parser.parse_args(argv))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
