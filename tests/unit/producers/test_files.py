"""The files producer: the seed, saved HTML pages, directories, watching, and bad files."""

from __future__ import annotations

import io
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from prometheus_client import CollectorRegistry

from producers.files import DirectoryWatcher, default_source, ingest_file, ingest_paths, iter_input_files
from producers.intake import Intake
from producers.metrics import ProducerMetrics
from producers.publisher import StdoutSink
from producers.scraped import parse_html_page, parse_scraped_text
from producers.validate import Rejection

ROOT = Path(__file__).resolve().parents[3]
SEED_DIR = ROOT / "ops" / "sample" / "seed"  # a copy of ../shared/seed, so a clone is self-contained
SEED = SEED_DIR / "article-2016-10-22-carter-ankara.txt"
PAGES = ROOT / "tests" / "fixtures" / "pages"
SEED_TITLE = "كارتر يبحث بأنقرة التعاون ل «هزيمة داعش» واحتواء التوتر مع بغداد"


def stdout_intake(source: str = "files") -> tuple[Intake, io.BytesIO]:
    stream = io.BytesIO()
    metrics = ProducerMetrics(CollectorRegistry())
    return Intake(StdoutSink(stream, metrics, "files", 1 << 20), metrics, source), stream


def published(stream: io.BytesIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_seed_parses_to_title_date_and_clean_body() -> None:
    page = parse_scraped_text(SEED.read_text(encoding="utf-8"), UTC)
    assert page.title == SEED_TITLE
    assert page.published_at == "2016-10-22T00:00:00+00:00"
    assert page.body.startswith("اتفقت الولايات المتحدة")
    assert page.body.endswith("(وكالات)")
    for furniture in ("news-picture", "مشاركة", "•", "10/22/2016"):
        assert furniture not in page.body


def test_seed_directory_yields_exactly_one_article() -> None:
    intake, stream = stdout_intake(default_source(SEED_DIR))
    ingest_paths(intake, iter_input_files(SEED_DIR), UTC, lambda: False)
    [article] = published(stream)
    assert article["title"] == SEED_TITLE
    assert str(article["published_at"]).startswith("2016-10-22")
    assert article["source"] == "seed" and article["lang"] == "ar"
    assert len(str(article["id"])) == 64


def test_zone_option_applies_to_dates_without_offset() -> None:
    page = parse_scraped_text(SEED.read_text(encoding="utf-8"), ZoneInfo("Asia/Baghdad"))
    assert page.published_at == "2016-10-22T00:00:00+03:00"


def test_scraped_text_with_time_and_share_line() -> None:
    text = "Title here\n\n  • 2016-10-22\n  • 14:30\n  • 3\n\nFirst paragraph.\n\nSecond one.\n\nShare:\n"
    page = parse_scraped_text(text, UTC)
    assert (page.title, page.published_at) == ("Title here", "2016-10-22T14:30:00+00:00")
    assert page.body == "First paragraph.\n\nSecond one."


def test_scraped_text_without_date_has_no_published_at() -> None:
    page = parse_scraped_text("Only a title\n\nAnd a body.", UTC)
    assert (page.published_at, page.body) == (None, "And a body.")


def test_saved_english_page_is_extracted_by_trafilatura() -> None:
    page = parse_html_page((PAGES / "article-en.html").read_bytes(), UTC)
    assert page.title == "Carter visits Ankara to discuss the fight against ISIS"
    assert page.published_at == "2016-10-22T09:30:00+03:00"
    assert page.body.startswith("US Defence Secretary Ash Carter arrived in Ankara")
    assert "Home" not in page.body and "All rights reserved" not in page.body
    assert page.url == "https://news.test/world/carter-ankara"


def test_saved_arabic_page_is_extracted_by_trafilatura() -> None:
    page = parse_html_page((PAGES / "article-ar.html").read_bytes(), UTC)
    assert page.title == "كارتر يبحث بأنقرة التعاون لهزيمة داعش"
    assert page.published_at is not None and page.published_at.startswith("2016-10-22")
    assert page.body.startswith("اتفقت الولايات المتحدة") and "الرئيسية" not in page.body


def test_html_article_id_comes_from_canonical_url() -> None:
    intake, stream = stdout_intake()
    assert ingest_file(intake, PAGES / "article-en.html", UTC)
    [article] = published(stream)
    assert article["url"] == "https://news.test/world/carter-ankara"
    assert article["lang"] == "en"


def test_bad_files_are_rejected_by_name_and_the_rest_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-bad-utf8.txt").write_bytes(b"Title\n\n\xff\xfe body")
    (tmp_path / "b-empty.txt").write_text("\n\n  \n")
    (tmp_path / "c-good.txt").write_text("Good title\n\nGood body.")
    (tmp_path / ".hidden.txt").write_text("Hidden\n\nbody")
    (tmp_path / "notes.csv").write_text("x,y")
    intake, stream = stdout_intake()
    ingest_paths(intake, iter_input_files(tmp_path), UTC, lambda: False)
    assert [a["title"] for a in published(stream)] == ["Good title"]
    assert intake.tally.rejected == {Rejection.INVALID_UTF8: 1, Rejection.EMPTY: 1}
    assert "a-bad-utf8.txt" in caplog.text and "b-empty.txt" in caplog.text


def test_directories_are_read_recursively_in_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "2.txt").write_text("Two\n\nbody")
    (tmp_path / "1.txt").write_text("One\n\nbody")
    assert [p.name for p in iter_input_files(tmp_path)] == ["1.txt", "2.txt"]


def test_watcher_takes_new_files_once_they_are_stable(tmp_path: Path) -> None:
    watcher = DirectoryWatcher(tmp_path)
    (tmp_path / "1.txt").write_text("One\n\nbody")
    assert watcher.ready_files() == []  # first sighting: maybe still being written
    assert [p.name for p in watcher.ready_files()] == ["1.txt"]
    assert watcher.ready_files() == []  # seen already
    (tmp_path / "2.txt").write_text("Two\n\nbo")
    watcher.ready_files()
    with (tmp_path / "2.txt").open("a") as handle:
        handle.write("dy, grown since the last poll")
    assert watcher.ready_files() == []
    assert [p.name for p in watcher.ready_files()] == ["2.txt"]
