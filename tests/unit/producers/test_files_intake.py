"""``files``: publisher as source, page times with precision, language by py3langid."""

from __future__ import annotations

import io
from datetime import UTC
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from producers.files import default_source, ingest_paths, iter_input_files
from producers.intake import Intake
from producers.metrics import ProducerMetrics
from producers.publisher import StdoutSink
from producers.scraped import parse_scraped_text
from producers.validate import build_article, encode_article

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages"
SEED = Path(__file__).resolve().parents[3] / "ops" / "sample" / "seed"


def run_files(root: Path, source: str | None = None) -> list[dict[str, object]]:
    stream = io.BytesIO()
    metrics = ProducerMetrics(CollectorRegistry())
    intake = Intake(StdoutSink(stream, metrics, "files", 1 << 20), metrics, default_source(root))
    ingest_paths(intake, iter_input_files(root), UTC, lambda: False, source)
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_source_is_the_option_else_the_canonical_host_else_the_directory(tmp_path: Path) -> None:
    site = tmp_path / "saved-pages"
    site.mkdir()
    for name in ("article-en.html", "article-ar.html"):
        (site / name).write_bytes((PAGES / name).read_bytes())
    by_lang = {a["lang"]: a for a in run_files(site)}
    assert by_lang["en"]["source"] == "news.test"  # <link rel=canonical href="https://news.test/...">
    assert by_lang["ar"]["source"] == "saved-pages"  # no canonical URL: the directory
    assert {a["source"] for a in run_files(site, "Asharq")} == {"Asharq"}


def test_html_page_times_keep_offset_and_precision(tmp_path: Path) -> None:
    by_lang = {a["lang"]: a for a in run_files(PAGES)}
    assert (by_lang["en"]["published_at"], by_lang["en"]["published_precision"]) == (
        "2016-10-22T09:30:00+03:00",
        "second",
    )
    assert (by_lang["ar"]["published_at"], by_lang["ar"]["published_precision"]) == (
        "2016-10-22T00:00:00+00:00",
        "day",
    )


def test_seed_dump_states_a_clock_so_it_is_minute_precision_and_a_bare_date_is_day() -> None:
    [seed] = run_files(SEED)
    assert (seed["published_at"], seed["published_precision"], seed["lang"]) == (
        "2016-10-22T00:00:00+00:00",
        "minute",
        "ar",
    )
    page = parse_scraped_text("Title\n\n  • 10/22/2016\n\nBody text.", UTC)
    assert (page.published_at, page.published_precision) == ("2016-10-22T00:00:00+00:00", "day")


@pytest.mark.parametrize(
    ("precision", "published_at", "kept"),
    [
        ("day", "2016-10-22T00:00:00+00:00", "day"),
        ("hour", "2016-10-22T00:00:00+00:00", None),
        ("day", None, None),
    ],
)
def test_precision_is_kept_only_when_known_and_with_a_time(
    precision: str, published_at: str | None, kept: str | None
) -> None:
    fields = {"title": "t", "published_at": published_at, "published_precision": precision}
    assert build_article(fields, where="test").published_precision == kept


def test_precision_is_absent_from_the_wire_when_unknown() -> None:
    plain = orjson.loads(encode_article(build_article({"title": "t"}, where="test"), 1 << 20))
    assert "published_precision" not in plain
    dated = build_article(
        {"title": "t", "published_at": "2016-10-22T00:00:00+00:00", "published_precision": "day"}, where="t"
    )
    assert orjson.loads(encode_article(dated, 1 << 20))["published_precision"] == "day"
