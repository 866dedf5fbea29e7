"""The ``files`` producer: scraped text and saved HTML files, once or by watching a directory."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import tzinfo
from pathlib import Path

from producers.intake import Intake
from producers.language import detect_language
from producers.pages.publisher import publisher_source
from producers.scraped import ScrapedPage, parse_html_page, parse_scraped_text
from producers.validate import ArticleRejected, Rejection

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".text", ""})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
ACCEPTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES


def default_source(path: Path) -> str:
    """The directory's name for a directory input, else "files"."""
    if path.is_dir():
        return path.resolve().name or "files"
    return "files"


def read_page(path: Path, tz: tzinfo) -> ScrapedPage:
    """One file parsed by its kind; unreadable or non-UTF-8 text raises ArticleRejected."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ArticleRejected(Rejection.UNREADABLE, exc.strerror or str(exc)) from None
    if path.suffix.lower() in HTML_SUFFIXES:
        # trafilatura reads the page's own charset declaration from the bytes.
        return parse_html_page(raw, tz)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleRejected(Rejection.INVALID_UTF8, f"byte {exc.start}: {exc.reason}") from None
    return parse_scraped_text(text, tz)


def page_fields(page: ScrapedPage, source: str | None = None) -> dict[str, object]:
    """Article fields of a parsed page (id derived later from URL or title+body).

    Source: ``source`` (--source) if given, else the canonical URL's host; "" lets the intake's
    default (the directory name) apply.
    """
    return {
        "url": page.url,
        "title": page.title,
        "body": page.body,
        "lang": detect_language(page.title + " " + page.body),
        "source": publisher_source(source, page.url, ""),
        "published_at": page.published_at,
        "published_precision": page.published_precision,
    }


def ingest_file(intake: Intake, path: Path, tz: tzinfo, source: str | None = None) -> bool:
    """Publish one file as one article; False (logged, counted) when it cannot be."""
    where = str(path)
    try:
        page = read_page(path, tz)
    except ArticleRejected as error:
        intake.tally.read += 1
        intake.reject(where, error)
        return False
    return intake.offer_fields(page_fields(page, source), where) is not None


def is_candidate(path: Path) -> bool:
    """Regular, visible files of a kind we parse (editors' and downloaders' temp files skipped)."""
    return (
        path.is_file()
        and not path.name.startswith(".")
        and not path.name.endswith(("~", ".part", ".tmp", ".crdownload"))
        and path.suffix.lower() in ACCEPTED_SUFFIXES
    )


def iter_input_files(path: Path) -> Iterator[Path]:
    """The file itself, or every candidate under a directory (recursively, sorted for stable runs)."""
    if path.is_file():
        yield path
        return
    yield from sorted(p for p in path.rglob("*") if is_candidate(p))


def ingest_paths(
    intake: Intake,
    paths: Iterable[Path],
    tz: tzinfo,
    should_stop: Callable[[], bool],
    source: str | None = None,
) -> list[Path]:
    """Each file once, in order, until asked to stop; the paths handled."""
    done: list[Path] = []
    for path in paths:
        if should_stop():
            break
        ingest_file(intake, path, tz, source)
        done.append(path)
    return done


class DirectoryWatcher:
    """Polls a directory for new files; a file is taken once its size and mtime held for one poll.

    The stability check keeps a half-written file from being published truncated.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: set[Path] = set()
        self.pending: dict[Path, tuple[int, int]] = {}

    def ready_files(self) -> list[Path]:
        """New files that did not change since the previous call."""
        ready: list[Path] = []
        for path in iter_input_files(self.root):
            if path in self.seen:
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            signature = (stat.st_size, stat.st_mtime_ns)
            if self.pending.get(path) == signature:
                ready.append(path)
                self.seen.add(path)
                del self.pending[path]
            else:
                self.pending[path] = signature
        return ready


def watch_directory(
    intake: Intake,
    root: Path,
    tz: tzinfo,
    interval_s: float,
    should_stop: Callable[[], bool],
    source: str | None = None,
) -> None:
    """Ingest files as they appear under ``root`` until asked to stop (existing files included)."""
    watcher = DirectoryWatcher(root)
    log.info("watching %s every %.1fs", root, interval_s)
    while not should_stop():
        ingest_paths(intake, watcher.ready_files(), tz, should_stop, source)
        intake.sink.flush()
        deadline = time.monotonic() + interval_s
        while not should_stop() and time.monotonic() < deadline:
            time.sleep(min(0.2, interval_s))
