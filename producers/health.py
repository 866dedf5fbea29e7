"""Feed health for ``producers rss --check``: one verdict per feed and the table (pure)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

DEFAULT_SILENT_AFTER_S = 12 * 3600.0  # a news feed with nothing new for half a day is worth a look


@dataclass(frozen=True)
class FeedCheck:
    """One feed's state at a check: ok, failing (with the reason) or silent (nothing new for long)."""

    name: str
    url: str
    state: str  # "ok" | "failing" | "silent" | "empty"
    entries: int
    newest: float | None
    detail: str

    @property
    def healthy(self) -> bool:
        return self.state == "ok"


def check_row(
    name: str,
    url: str,
    *,
    error: str,
    entries: int,
    newest: float | None,
    silent_after_s: float,
    now: float | None = None,
) -> FeedCheck:
    """The verdict: a fetch/parse error is failing; no entries is empty; an old newest entry is silent."""
    now = time.time() if now is None else now
    if error:
        return FeedCheck(name, url, "failing", 0, None, error)
    if entries == 0:
        return FeedCheck(name, url, "empty", 0, None, "no entries")
    if newest is not None and now - newest > silent_after_s:
        return FeedCheck(name, url, "silent", entries, newest, f"newest entry {age_text(now - newest)} old")
    return FeedCheck(name, url, "ok", entries, newest, "")


def age_text(seconds: float) -> str:
    """A short human age: 45s, 12m, 5h, 3d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(max(seconds, 0))}s"


def format_table(rows: list[FeedCheck]) -> str:
    """A fixed-width table: feed, state, entries, newest entry (UTC), detail, URL."""
    header = ("FEED", "STATE", "ENTRIES", "NEWEST (UTC)", "DETAIL", "URL")
    lines = [
        (
            row.name,
            row.state,
            str(row.entries),
            datetime.fromtimestamp(row.newest, UTC).strftime("%Y-%m-%d %H:%M") if row.newest else "-",
            row.detail[:60] or "-",
            row.url,
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=True))
        + "  "
        + cells[-1]
        for cells in [header, *lines]
    )
