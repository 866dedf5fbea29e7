"""Plain text from HTML fragments (lxml), whitespace tidying and a cheap language guess."""

from __future__ import annotations

import re

import lxml.etree
import lxml.html

# Elements after which a reader sees a line break; without it `<p>a</p><p>b</p>` reads "ab".
BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "blockquote"}
    | {"section", "article", "header", "footer", "figure", "figcaption", "pre", "hr", "dd", "dt"}
)
INVISIBLE_TAGS = ("script", "style", "noscript", "template")
SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
BLANK_LINES = re.compile(r"\n\s*\n+")


def tidy_whitespace(text: str) -> str:
    """Runs of spaces collapsed, lines trimmed, at most one blank line between paragraphs."""
    lines = (SPACES.sub(" ", line).strip() for line in text.splitlines())
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(fragment: str) -> str:
    """The readable text of an HTML fragment: tags dropped, entities decoded, blocks on their own lines."""
    if "<" not in fragment and "&" not in fragment:
        return tidy_whitespace(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return tidy_whitespace(fragment)
    for element in list(root.iter(*INVISIBLE_TAGS)):
        element.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
    return tidy_whitespace(root.text_content())


def guess_lang(text: str) -> str:
    """'ar' when Arabic letters outnumber Latin ones, 'en' when Latin ones do, else ''."""
    arabic = sum(1 for ch in text[:2000] if "\u0600" <= ch <= "\u06ff")
    latin = sum(1 for ch in text[:2000] if ch.isascii() and ch.isalpha())
    if arabic == latin == 0:
        return ""
    return "ar" if arabic > latin else "en"
