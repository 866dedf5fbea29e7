"""Language identification with py3langid (model shipped in the wheel): ISO 639-1 codes, else 639-3."""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

# Letters needed before a guess is worth making: two short sentences of news are ~100.
MIN_LETTERS = 40
# Mapped to the code newsmon reports. py3langid's "sdh" class (Southern Kurdish, Arabic script) is
# where Sorani news text lands, and Sorani (ckb) is what Arabic-script Kurdish news is written in;
# its "ku" is Kurmanji in Latin script. Arabic dialect classes fold into the macrolanguage: news is
# written in Modern Standard Arabic and a dialect label is a misfire, not a finding.
CODE_MAP = {"sdh": "ckb", "ary": "ar", "arz": "ar", "zxx": "", "und": ""}
SAMPLE_CHARS = 4000  # the classifier's cost grows with length; 4,000 characters decide any article


class Identifier(Protocol):
    def classify(self, text: str) -> tuple[str, float]: ...


@lru_cache(maxsize=1)
def identifier() -> Identifier:
    """py3langid's bundled model, loaded once (≈ 0.7 s) on first use."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    loaded: Identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return loaded


def letter_count(text: str) -> int:
    """Letters in the text (digits, punctuation and spaces say nothing about the language)."""
    return sum(1 for ch in text if ch.isalpha())


def detect_language(text: str, fallback: str = "") -> str:
    """The text's language code, or ``fallback`` (a feed's declared language, or "") when too short."""
    sample = text[:SAMPLE_CHARS]
    if letter_count(sample) < MIN_LETTERS:
        return fallback
    code, _confidence = identifier().classify(sample)
    return CODE_MAP.get(code, code)
