"""Normalization rules (docs/contract.md "Matching" 1) and the fast internal form against the slow one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.matching.normalize import internal_form, internal_form_of_normal, normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Alef variants and the other letter mappings
        ("أنقرة", "انقره"),
        ("إسلام", "اسلام"),
        ("آشتون", "اشتون"),
        ("ٱلله", "الله"),
        ("مصطفى", "مصطفي"),
        ("الدولة", "الدوله"),
        # Persian/Urdu lookalikes
        ("کارتر", "كارتر"),
        ("سوریا", "سوريا"),
        ("ہ", "ه"),
        ("ے", "ي"),
        # hamza on و and ي is a different letter: kept
        ("مسؤول رئيس", "مسؤول رئيس"),
        # presentation forms (NFKC): initial lam U+FEDF, lam-alef ligatures
        ("\ufedf\ufee0\ufee4\ufeee\ufeba\ufede", "للموصل"),
        ("\ufefb", "لا"),
        ("\ufef7", "لا"),
    ],
)
def test_arabic_letters(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "mark",
    [
        "\u064b",  # fathatan
        "\u064e",  # fatha
        "\u0650",  # kasra
        "\u0651",  # shadda
        "\u0652",  # sukun
        "\u065f",  # wavy hamza below (end of the range)
        "\u0610",  # Quranic sign
        "\u0670",  # superscript alef
        "\u06d6",  # small high ligature
        "\u06ed",  # small low meem
        "\u0640",  # tatweel
        "\u200b",  # zero width space
        "\u200c",  # ZWNJ
        "\u200d",  # ZWJ
        "\u200e",  # LRM
        "\u200f",  # RLM
        "\u202a",  # LRE
        "\u202e",  # RLO
        "\u2066",  # LRI
        "\u2069",  # PDI
        "\ufeff",  # BOM / ZWNBSP
    ],
)
def test_marks_are_dropped_inside_words(mark: str) -> None:
    assert normalize(f"دا{mark}عش") == "داعش"
    assert normalize(f"Mo{mark}sul") == "mosul"


def test_hamza_mark_composes_before_it_is_dropped() -> None:
    # و + U+0654 is canonically ؤ; ا + U+0654 is أ, which then becomes ا
    assert normalize("و\u0654") == "ؤ"
    assert normalize("ا\u0654") == "ا"
    # a tatweel or bidi mark between them does not block the composition
    assert normalize("و\u0640\u0654") == "ؤ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Erdoğan", "erdogan"),
        ("ERDOĞAN", "erdogan"),
        ("Türkiye", "turkiye"),
        ("İstanbul", "istanbul"),
        ("ÉCOLE Ça", "ecole ca"),
        ("Straße", "strasse"),
        ("e\u0301te\u0301", "ete"),  # decomposed accents
        ("ﬁne", "fine"),  # ligature (NFKC)
        ("ＡＢＣ１２", "abc12"),  # fullwidth (NFKC)
    ],
)
def test_latin_accents_and_case(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_separators_are_kept_by_normalize() -> None:
    assert normalize("«داعش»، Mosul-based") == "«داعش»، mosul-based"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", b""),
        ("Mosul", b"mosul"),
        ("  Mosul-based,  ok!  ", b"  mosul based   ok   "),
        ("a\n\n\tb", b"a   b"),
        ("abc 12", b"abc 12"),
        ("داعش، الموصل", internal_form("داعش") + b"  " + internal_form("الموصل")),
    ],
)
def test_internal_form_maps_each_separator_to_a_space(text: str, expected: bytes) -> None:
    assert internal_form(text) == expected


def test_slow_internal_form_collapses_separator_runs() -> None:
    assert internal_form_of_normal("  mosul-based,  ok!  ") == b" mosul based ok "


def test_internal_form_of_rare_characters_uses_three_bytes() -> None:
    # Cyrillic is outside the one-byte table: the slow path, three bytes >= 0x80 per letter
    encoded = internal_form("Москва")
    assert len(encoded) == 18
    assert all(byte >= 0x80 for byte in encoded)
    assert encoded == internal_form("москва")


_FAST_ALPHABET = (
    "abcXYZ019 .,-«»،؛؟\n\t’“”…"
    "ابتثجحخدذرزسشصضطظعغفقكلمنهويءأإآٱىةؤئ٠١٢٣"
    "\u064b\u064e\u0651\u0652\u0670\u0640\u200c\u200f\u202b\ufeff"
    "کیہےپچژگڤéçöüğışİ"
)
_SLOW_EXTRAS = "ßﻟﻻ\u0654\u0653\u0301Москваαβ中文😀\u06d6\u0610½"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_FAST_ALPHABET + _SLOW_EXTRAS, max_size=60))
def test_fast_internal_form_has_the_tokens_of_the_slow_path(text: str) -> None:
    assert internal_form(text).split() == internal_form_of_normal(normalize(text)).split()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=_FAST_ALPHABET + _SLOW_EXTRAS, max_size=60))
def test_normalize_is_idempotent_on_arabic_and_latin(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
