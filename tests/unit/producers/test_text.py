"""HTML fragments to text, whitespace tidying and the language guess."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.text import guess_lang, html_to_text, tidy_whitespace


@pytest.mark.parametrize(
    ("fragment", "text"),
    [
        ("<p>Hello <b>world</b> &amp; co</p>", "Hello world & co"),
        ("<p>one</p><p>two</p>", "one\ntwo"),
        ("line<br>break", "line\nbreak"),
        ("<div>a<script>alert(1)</script><style>p{}</style> b</div>", "a b"),
        ("plain text, no tags", "plain text, no tags"),
        ("&quot;quoted&quot; &#8212; &#x27;x&#x27;", "\"quoted\" — 'x'"),
        ("<p>عن <i>بغداد</i>&nbsp;و«داعش»</p>", "عن بغداد و«داعش»"),
        ("<p>unclosed <b>tags", "unclosed tags"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_html_to_text(fragment: str, text: str) -> None:
    assert html_to_text(fragment) == text


@given(st.text(max_size=200))
def test_html_to_text_never_raises(fragment: str) -> None:
    text = html_to_text(fragment)
    assert text == text.strip()


@given(st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), max_size=200))
def test_escaped_text_in_a_paragraph_comes_back(value: str) -> None:
    assert html_to_text(f"<p>{html.escape(value)}</p>") == tidy_whitespace(value)


def test_tidy_whitespace_keeps_paragraphs() -> None:
    assert tidy_whitespace("  a   b \n\n\n\n c\t\td \n") == "a b\n\nc d"


def test_guess_lang() -> None:
    assert guess_lang("كارتر في أنقرة") == "ar"
    assert guess_lang("Carter in Ankara") == "en"
    assert guess_lang("2016 - 10") == ""
