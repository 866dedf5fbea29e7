"""One news page → title, main text (trafilatura), canonical URL and publication time (our own parser)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from urllib.parse import urljoin

import lxml.etree
import lxml.html

from producers.ids import canonical_url
from producers.pages.published import Precision, published_time
from producers.text import tidy_whitespace

UTF8_PARSER = lxml.html.HTMLParser(encoding="utf-8")


@dataclass(frozen=True)
class Page:
    """What a news page says about itself."""

    title: str
    body: str
    url: str  # canonical, "" when the page names none
    published_at: str | None
    published_precision: Precision | None


def parse_tree(html: str) -> lxml.html.HtmlElement | None:
    """An lxml tree of decoded HTML (re-encoded: lxml refuses str with an encoding declaration)."""
    try:
        return lxml.html.document_fromstring(html.encode("utf-8", "surrogatepass"), parser=UTF8_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return None


def _first(root: lxml.html.HtmlElement, *paths: str) -> str:
    """The first non-blank result of the XPath expressions (string() ones give a str, others a list)."""
    for path in paths:
        result = root.xpath(path)
        for value in [result] if isinstance(result, str) else result:
            text = str(value).strip()
            if text:
                return text
    return ""


def page_canonical_url(root: lxml.html.HtmlElement, base_url: str = "") -> str:
    """<link rel=canonical>, else og:url, made absolute against ``base_url`` and canonicalized."""
    href = _first(root, "//link[@rel='canonical']/@href", "//meta[@property='og:url']/@content")
    if not href:
        return ""
    if base_url:
        href = urljoin(base_url, href)
    return canonical_url(href) if href.startswith(("http://", "https://")) else ""


def page_title(root: lxml.html.HtmlElement) -> str:
    """og:title, else the first <h1>, else <title> (which often carries the site's name too)."""
    return tidy_whitespace(
        _first(root, "//meta[@property='og:title']/@content", "string(//h1)", "string(//title)")
    )


def main_text(root: lxml.html.HtmlElement, title: str) -> str:
    """trafilatura's main text, without the headline it repeats as the first line."""
    # Imported on first use: it adds ~0.6 s to the startup of every command otherwise.
    import trafilatura

    text = trafilatura.extract(root, include_comments=False, with_metadata=False) or ""
    first, _, rest = text.partition("\n")
    return tidy_whitespace(rest if title and first.strip() == title.strip() else text)


def parse_page(html: str, base_url: str = "", tz: tzinfo | None = None) -> Page:
    """The page's title, text, canonical URL and stated time (``tz`` for times written without offset)."""
    root = parse_tree(html)
    if root is None:
        return Page("", "", "", None, None)
    title = page_title(root)
    url = page_canonical_url(root, base_url)
    published = published_time(root, tz)
    body = main_text(root, title)  # last: trafilatura prunes the tree it is given
    return Page(
        title=title,
        body=body,
        url=url,
        published_at=published.at if published else None,
        published_precision=published.precision if published else None,
    )
