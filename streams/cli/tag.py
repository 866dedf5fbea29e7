"""`python -m streams.tag --watchlist PATH`: tag JSON Lines articles from stdin (docs/contract.md "streams.tag")."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from typing import Any, BinaryIO

import orjson

from streams.matching.matcher import Matcher
from streams.model.deadletter import Rejected
from streams.model.decode import decode_article
from streams.stories.index import StoryIndex
from streams.watchlist.file import WatchlistError, load_watchlist
from streams.watchlist.gc_pause import collector_paused

_FLUSH_EVERY = 2048  # output lines per write: few syscalls, bounded memory
MAX_LINE_BYTES = 1 << 30  # offline: any line that fits in memory


def tag_line(
    line: bytes, number: int, matcher: Matcher, stories: StoryIndex | None = None
) -> tuple[bytes, bool]:
    """The output line for one input line (without newline) and whether the input was valid: the
    worker's Article rules, and its dead-letter reason as the error; with a story index, the line
    also carries the article's story (docs/stories.md)."""
    article = decode_article(line, MAX_LINE_BYTES)
    if isinstance(article, Rejected):
        return orjson.dumps({"line": number, "error": article.describe()}), False
    tagged: dict[str, Any] = {"id": article.id, "mentions": matcher.mentions(article.title, article.body)}
    if stories is not None:
        tagged["story"] = stories.assign(article.id, article.body)
    return orjson.dumps(tagged), True


def tag_stream(
    lines: Iterable[bytes], out: BinaryIO, matcher: Matcher, stories: StoryIndex | None = None
) -> int:
    """Tag every line in order, writing one output line each; returns the number of bad lines."""
    failed = 0
    pending: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        tagged, ok = tag_line(line, number, matcher, stories)
        failed += not ok
        pending.append(tagged)
        if len(pending) >= _FLUSH_EVERY:
            out.write(b"\n".join(pending) + b"\n")
            pending.clear()
    if pending:
        out.write(b"\n".join(pending) + b"\n")
    out.flush()
    return failed


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m streams.tag",
        description="Read Article JSON Lines on stdin; write {id, mentions} (or {line, error}) per line.",
    )
    parser.add_argument("--watchlist", required=True, help="watchlist YAML file")
    parser.add_argument(
        "--stories", action="store_true", help='add "story": the id of the first article of its story'
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 all lines tagged, 1 some lines failed, 2 unusable watchlist."""
    args = _arguments(argv)
    try:
        with collector_paused():
            matcher = load_watchlist(args.watchlist).matcher()
    except WatchlistError as exc:
        sys.stderr.write(f"streams.tag: bad watchlist: {exc}\n")
        return 2
    try:
        stories = StoryIndex() if args.stories else None
        failed = tag_stream(sys.stdin.buffer, sys.stdout.buffer, matcher, stories)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); keep the exit flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
