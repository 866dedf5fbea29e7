"""Text normalization for matching (docs/contract.md "Matching" rule 1) and its fast one-byte internal form."""

from __future__ import annotations

import codecs
import unicodedata
from array import array
from collections.abc import Iterable, Iterator

# Bidi and zero-width marks: invisible, never part of a word.
_BIDI_AND_ZERO_WIDTH = (range(0x200B, 0x2010), range(0x202A, 0x202F), range(0x2066, 0x206A), (0xFEFF,))
_TATWEEL = (0x0640,)
# Arabic diacritics (harakat, Quranic marks) as listed in docs/contract.md "Matching".
_ARABIC_DIACRITICS = (range(0x0610, 0x061B), range(0x064B, 0x0660), (0x0670,), range(0x06D6, 0x06EE))
# Marks that compose with a preceding Arabic letter under NFKC (و + ٔ = ؤ): they are dropped only
# after NFKC, so that canonically equivalent spellings stay equal.
_COMPOSING_ARABIC_MARKS = frozenset({0x0653, 0x0654, 0x0655})
# Combining accents (Latin and generic): dropped after NFKC, which first folds them into letters.
_COMBINING_ACCENTS = (
    range(0x0300, 0x0370),
    range(0x1AB0, 0x1B00),
    range(0x1DC0, 0x1E00),
    range(0x20D0, 0x2100),
    range(0xFE20, 0xFE30),
)

_LETTER_MAP = {
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ى": "ي",
    "ة": "ه",
    "ک": "ك",
    "ی": "ي",
    "ہ": "ه",
    "ے": "ي",
}


def _code_points(groups: Iterable[Iterable[int]]) -> frozenset[int]:
    return frozenset(cp for group in groups for cp in group)


_PRE_NFKC_DROP = (
    _code_points((*_BIDI_AND_ZERO_WIDTH, _TATWEEL, *_ARABIC_DIACRITICS)) - _COMPOSING_ARABIC_MARKS
)
_DROP = _PRE_NFKC_DROP | _COMPOSING_ARABIC_MARKS | _code_points(_COMBINING_ACCENTS)
_PRE_NFKC_TABLE: dict[int, None] = dict.fromkeys(_PRE_NFKC_DROP)
# A dropped mark can separate two characters that NFKC then composes; a few rounds reach the fixed
# point (in practice one), which makes normalize() idempotent.
_MAX_ROUNDS = 8


def _strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if ord(ch) not in _DROP)


def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def _fold_char(ch: str) -> str:
    """Normalization of one character that has already been through NFKC."""
    if ord(ch) in _DROP:
        return ""
    if ch in _LETTER_MAP:
        return _LETTER_MAP[ch]
    if _is_latin(ch):
        # Casefolding can bring a dot back (İ → i̇): strip accents before and after it.
        return _strip_accents(_strip_accents(ch).casefold())
    # No decomposition here: it would split ؤ into و + ٔ and lose a letter.
    return "".join(c for c in ch.casefold() if ord(c) not in _DROP)


class _FoldTable(dict[int, str]):
    """str.translate table that computes and caches each character's folding on first use."""

    def __missing__(self, code_point: int) -> str:
        folded = _fold_char(chr(code_point))
        self[code_point] = folded
        return folded


_FOLD_TABLE = _FoldTable()


def _normalize_round(text: str) -> str:
    nfkc = unicodedata.normalize("NFKC", text.translate(_PRE_NFKC_TABLE))
    return nfkc.translate(_FOLD_TABLE)


def normalize(text: str) -> str:
    """The normal form (docs/contract.md "Matching" rule 1) of ``text`` (separators are kept as they are)."""
    result = _normalize_round(text)
    for _ in range(_MAX_ROUNDS):
        again = _normalize_round(result)
        if again == result:
            break
        result = again
    return result


def is_token_char(ch: str) -> bool:
    """Letters and digits (and marks that stay attached to them) make tokens; all else separates."""
    return unicodedata.category(ch)[0] in "LMN"


# --- The internal form --------------------------------------------------------------------------
# The matcher works on bytes: every token character of the normal form is one byte below 0x80 when
# it is common (ASCII letters and digits keep their code), or three bytes 0x80-0xFF otherwise; every
# separator is a space (collapsing runs would cost as much as normalizing, so the matcher skips them).
# Names and text share this form, so a byte match is a token match.

SPACE = 0x20
BOUNDARY = 0x0A  # between title and body: no name matches across it
_ESCAPE_BITS = 7


def _escape(code_point: int) -> bytes:
    return bytes(
        (
            0x80 | (code_point >> (2 * _ESCAPE_BITS)),
            0x80 | ((code_point >> _ESCAPE_BITS) & 0x7F),
            0x80 | (code_point & 0x7F),
        )
    )


def _source_chars() -> Iterator[str]:
    """Characters the one-byte codec reads directly, most useful first (at most 255 are taken)."""
    yield from "\t\n\v\f\r"
    yield from (chr(cp) for cp in range(0x20, 0x7F))
    yield from (chr(cp) for cp in range(0x0621, 0x0653))  # letters, tatweel, harakat, shadda, sukun
    yield from (chr(cp) for cp in range(0x0660, 0x066E))  # digits, percent, decimal separators
    yield from "،؛؟\u0670ٱپچژکگیہےڤ"
    for group in _BIDI_AND_ZERO_WIDTH:
        yield from (chr(cp) for cp in group)
    yield from "\u00a0«»‘’‚“”„–—―…•·°′″‹›"
    yield from "éèêëàâäáãåçôöóòõøüúùûîïíìñæœýÿğşıİŞĞÉÈÀÇÖÜÁÍÓÚ"
    yield from (chr(cp) for cp in range(0xA1, 0x100))
    yield from (chr(cp) for cp in range(0x100, 0x180))


def _fast_safe_folding(ch: str) -> str | None:
    """The folding of ``ch`` when it is context-free and fits one byte, else None."""
    if ord(ch) in _COMPOSING_ARABIC_MARKS:
        return None
    folded = normalize(ch)
    letters = [c for c in folded if is_token_char(c)]
    if len(letters) > 1 or (letters and len(folded) > 1):
        return None
    return folded


class _InternalAlphabet:
    """Byte codes of normal-form characters; common ones get one byte, others a 3-byte escape."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {chr(c): c for c in range(0x30, 0x3A)}
        self._codes.update({chr(c): c for c in range(0x61, 0x7B)})
        # ASCII whitespace codes stay unused so that bytes.split() never splits inside a token.
        whitespace = {0x00, *range(0x09, 0x0E), *range(0x1C, 0x20), SPACE}
        reserved = {*whitespace, *self._codes.values()}
        self._free = [c for c in range(0x7F, 0, -1) if c not in reserved]
        self._characters = {code: ch for ch, code in self._codes.items()}

    def code(self, ch: str) -> int:
        """The one-byte code of ``ch``, assigning one if needed (only while building the codec)."""
        if ch not in self._codes:
            self._codes[ch] = self._free.pop()
            self._characters[self._codes[ch]] = ch
        return self._codes[ch]

    def character(self, code: int) -> str:
        """The character of a one-byte code."""
        return self._characters[code]

    def encode_normal(self, normal: str) -> bytes:
        """Internal form of normalized text: token characters coded, separator runs → one space."""
        out = bytearray()
        for ch in normal:
            if not is_token_char(ch):
                if out[-1:] != b" ":
                    out.append(SPACE)
            elif ch in self._codes:
                out.append(self._codes[ch])
            else:
                out += _escape(ord(ch))
        return bytes(out)


class _Codec:
    """One-byte charmap codec for common characters, then bytes.translate to the internal form."""

    def __init__(self) -> None:
        self.alphabet = _InternalAlphabet()
        decoding = ["\x00"]
        translation = bytearray(256)
        deleted = bytearray()
        for ch in dict.fromkeys(_source_chars()):
            folded = _fast_safe_folding(ch)
            if folded is None or len(decoding) == 256:
                continue
            byte = len(decoding)
            decoding.append(ch)
            if folded == "":
                deleted.append(byte)
            else:
                translation[byte] = self._byte_of(folded)
        translation[0] = SPACE  # U+0000 is a control character: a separator
        # charmap_build needs U+0000 at position 0 and nowhere else, or it silently builds a slow dict.
        self._encoding_map = codecs.charmap_build("".join(decoding).ljust(256, "\ufffe"))
        self._translation = bytes(translation)
        self._deleted = bytes(deleted)
        self._ascii_translation = bytes(self._byte_of(normalize(chr(b))) for b in range(128)) + bytes(128)
        self._decoding = decoding

    def _byte_of(self, folded: str) -> int:
        return self.alphabet.code(folded) if len(folded) == 1 and is_token_char(folded) else SPACE

    def internal(self, text: str) -> bytes:
        """Internal form of ``text``: normalized, one byte per common character; runs of spaces stay."""
        if text.isascii():  # O(1) for str: English text skips the charmap
            return text.encode("ascii").translate(self._ascii_translation)
        try:
            raw = codecs.charmap_encode(text, "strict", self._encoding_map)[0]
        except UnicodeEncodeError:
            return self.alphabet.encode_normal(normalize(text))
        return raw.translate(self._translation, self._deleted)

    def scan_table(self) -> bytes:
        """The fast path above as one table for streams/_scan.c: BMP code point → internal byte,
        SCAN_DROPPED, or SCAN_UNKNOWN (the text then takes the slow path); native-endian uint16."""
        table = array("H", [SCAN_UNKNOWN]) * 0x10000
        deleted = set(self._deleted)
        for byte, ch in enumerate(self._decoding[1:], start=1):
            table[ord(ch)] = SCAN_DROPPED if byte in deleted else self._translation[byte]
        for code_point in range(0x80):
            table[code_point] = self._ascii_translation[code_point]
        return table.tobytes()


SCAN_DROPPED = 0x100
SCAN_UNKNOWN = 0x200

_CODEC = _Codec()


# Internal byte form of a text (see above); a separator run may be several spaces. A bound method
# rather than a wrapper function: this is on the per-article hot path.
internal_form = _CODEC.internal


def scan_table() -> bytes:
    """Code point → internal byte table of the fast path, for streams/_scan.c."""
    return _CODEC.scan_table()


def internal_form_of_normal(normal: str) -> bytes:
    """Internal byte form of text that is already normalized (the slow path, used for names)."""
    return _CODEC.alphabet.encode_normal(normal)


def first_character(internal_token: bytes) -> str:
    """The normal-form character that an internal-form token starts with."""
    if internal_token[0] < 0x80:
        return _CODEC.alphabet.character(internal_token[0])
    high, middle, low = internal_token[:3]
    return chr(((high & 0x7F) << (2 * _ESCAPE_BITS)) | ((middle & 0x7F) << _ESCAPE_BITS) | (low & 0x7F))


def internal_code(ch: str) -> int:
    """One-byte internal code of a normal-form character that the codec reads (e.g. و)."""
    encoded = internal_form_of_normal(ch)
    if len(encoded) != 1:
        raise ValueError(f"{ch!r} has no one-byte internal code")
    return encoded[0]
