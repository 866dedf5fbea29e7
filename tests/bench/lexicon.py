"""Deterministic name lexicons for the scale benchmarks: people, places and organisations in Arabic and English.

Names are built the way news lexicons look: Arabic given names with their usual Latin spellings,
family names from Arabic roots (nisba forms: الهاشمي / al-Hashimi), patronymics (بن علي / bin Ali),
kunyas (أبو خالد / Abu Khalid), places and organisations on the same stems. Some entities also list
a short form (the bare family name) that other entities share, as real lexicons do ("Georgia",
"Jordan"); ``shared=False`` drops every name that normalizes like a name of an earlier entity.

Run: .venv/bin/python tests/bench/lexicon.py --entities 200000 --names 1000000 --out lexicon.jsonl
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from streams.matching.normalize import internal_form  # noqa: E402

# Given names: the Arabic spelling and the Latin spellings newsrooms use for it.
GIVEN_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("محمد", ("Mohammed", "Muhammad", "Mohamed", "Mohammad")),
    ("أحمد", ("Ahmed", "Ahmad")),
    ("علي", ("Ali",)),
    ("حسن", ("Hassan", "Hasan")),
    ("حسين", ("Hussein", "Hussain", "Husayn")),
    ("عمر", ("Omar", "Umar")),
    ("خالد", ("Khaled", "Khalid")),
    ("يوسف", ("Youssef", "Yusuf", "Yousef")),
    ("إبراهيم", ("Ibrahim", "Ebrahim")),
    ("عبد الله", ("Abdullah", "Abdallah", "Abd Allah")),
    ("عبد الرحمن", ("Abdulrahman", "Abdel Rahman", "Abd al-Rahman")),
    ("عبد العزيز", ("Abdulaziz", "Abdel Aziz")),
    ("سعيد", ("Said", "Saeed", "Saied")),
    ("مصطفى", ("Mustafa", "Moustafa", "Mostafa")),
    ("محمود", ("Mahmoud", "Mahmud")),
    ("عثمان", ("Othman", "Osman", "Uthman")),
    ("طارق", ("Tariq", "Tarek")),
    ("كريم", ("Karim", "Kareem")),
    ("جمال", ("Jamal", "Gamal")),
    ("ناصر", ("Nasser", "Nasir")),
    ("فيصل", ("Faisal", "Faysal")),
    ("سلمان", ("Salman",)),
    ("هشام", ("Hisham", "Hesham")),
    ("وليد", ("Walid", "Waleed")),
    ("ماجد", ("Majed", "Majid")),
    ("رامي", ("Rami",)),
    ("زياد", ("Ziad", "Ziyad")),
    ("عادل", ("Adel", "Adil")),
    ("منصور", ("Mansour", "Mansur")),
    ("صالح", ("Saleh", "Salih")),
    ("بشير", ("Bashir", "Basheer")),
    ("نبيل", ("Nabil", "Nabeel")),
    ("سمير", ("Samir", "Sameer")),
    ("فؤاد", ("Fouad", "Fuad")),
    ("رشيد", ("Rashid", "Rachid")),
    ("حمزة", ("Hamza", "Hamzah")),
    ("أنس", ("Anas",)),
    ("بلال", ("Bilal",)),
    ("إسماعيل", ("Ismail", "Ismael")),
    ("موسى", ("Musa", "Moussa")),
    ("عيسى", ("Issa", "Isa")),
    ("يحيى", ("Yahya", "Yehia")),
    ("زكريا", ("Zakaria", "Zakariya")),
    ("فاطمة", ("Fatima", "Fatma")),
    ("عائشة", ("Aisha", "Aicha")),
    ("مريم", ("Maryam", "Mariam")),
    ("ليلى", ("Layla", "Leila")),
    ("نور", ("Nour", "Noor")),
    ("سارة", ("Sara", "Sarah")),
    ("هدى", ("Huda", "Hoda")),
    ("رانيا", ("Rania", "Ranya")),
    ("سلمى", ("Salma",)),
    ("أمل", ("Amal",)),
    ("هالة", ("Hala",)),
    ("دينا", ("Dina",)),
    ("ياسمين", ("Yasmin", "Yasmine")),
)

# Root letters and how each is usually written in Latin transliteration.
_LETTERS: tuple[tuple[str, str], ...] = (
    ("ب", "b"), ("ت", "t"), ("ث", "th"), ("ج", "j"), ("ح", "h"), ("خ", "kh"), ("د", "d"),
    ("ذ", "dh"), ("ر", "r"), ("ز", "z"), ("س", "s"), ("ش", "sh"), ("ص", "s"), ("ض", "d"),
    ("ط", "t"), ("ظ", "z"), ("ع", ""), ("غ", "gh"), ("ف", "f"), ("ق", "q"), ("ك", "k"),
    ("ل", "l"), ("م", "m"), ("ن", "n"), ("ه", "h"), ("و", "w"), ("ي", "y"),
)  # fmt: skip
# Word patterns over a root C1 C2 C3: the Arabic form and its vowelled Latin form.
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("{0}{1}{2}", "{0}a{1}{2}"),
    ("{0}ا{1}{2}", "{0}a{1}i{2}"),
    ("{0}{1}ي{2}", "{0}a{1}i{2}"),
    ("{0}{1}ا{2}", "{0}a{1}a{2}"),
    ("{0}{1}و{2}", "{0}a{1}u{2}"),
    ("م{0}{1}{2}", "ma{0}{1}a{2}"),
    ("م{0}ا{1}{2}", "mu{0}a{1}i{2}"),
    ("ت{0}{1}ي{2}", "ta{0}{1}i{2}"),
)
_KINDS = (("person", 0.7), ("place", 0.2), ("org", 0.1))
_ORGS: tuple[tuple[str, str], ...] = (
    ("حزب {}", "{} Party"),
    ("شركة {}", "{} Company"),
    ("جامعة {}", "{} University"),
    ("مؤسسة {}", "{} Foundation"),
    ("حركة {}", "{} Movement"),
    ("بنك {}", "{} Bank"),
)


@dataclass(frozen=True, slots=True)
class Stem:
    """One root word in both scripts."""

    arabic: str
    latin: str


@dataclass(frozen=True, slots=True)
class LexiconEntity:
    """An entity as the entity files hold it: id and names per language."""

    id: str
    names: dict[str, list[str]]

    def json_line(self) -> bytes:
        return orjson.dumps({"id": self.id, "names": self.names})


def _stem(rng: random.Random) -> Stem:
    root = [rng.choice(_LETTERS) for _ in range(3)]
    arabic_pattern, latin_pattern = rng.choice(_PATTERNS)
    arabic = arabic_pattern.format(*(letter for letter, _ in root))
    latin = latin_pattern.format(*(latin for _, latin in root)).replace("aa", "a")
    if rng.random() < 0.5:  # a fourth root letter (quadriliteral roots) widens the pool
        letter, sound = rng.choice(_LETTERS)
        arabic, latin = arabic + letter, latin + "a" + sound
    return Stem(arabic, latin.capitalize())


class _Pools:
    """Family names and place stems, drawn with Zipf-like frequencies (a few common, a long tail)."""

    def __init__(self, rng: random.Random, size: int) -> None:
        stems = {stem.arabic: stem for stem in (_stem(rng) for _ in range(size))}
        self.stems = list(stems.values())
        self.cumulative = list(accumulate(1 / (rank + 1000) for rank in range(len(self.stems))))

    def draw(self, rng: random.Random) -> Stem:
        # cumulative weights: choices() would sum the weights again on every call
        return rng.choices(self.stems, cum_weights=self.cumulative)[0]


def _person_variants(rng: random.Random, pools: _Pools, short_form: bool) -> Iterator[tuple[str, str]]:
    """(language, name) variants of one person, most used first."""
    given_ar, given_en = rng.choice(GIVEN_NAMES)
    father_ar, father_en = rng.choice(GIVEN_NAMES)
    son_ar, son_en = rng.choice(GIVEN_NAMES)
    family = pools.draw(rng)
    nisba_ar, nisba_en = f"ال{family.arabic}ي", f"{family.latin}i"
    yield "ar", f"{given_ar} {nisba_ar}"
    yield "en", f"{given_en[0]} al-{nisba_en}"
    if short_form:  # the bare family name: shared with every other person of that family
        yield "en", nisba_en.replace("-", " ")
        yield "ar", nisba_ar
    yield "ar", f"{given_ar} بن {father_ar} {nisba_ar}"
    yield "en", f"{given_en[0]} bin {father_en[0]} al-{nisba_en}"
    for spelling in given_en[1:]:
        yield "en", f"{spelling} al-{nisba_en}"
    yield "en", f"{given_en[0]} {nisba_en}"
    yield "ar", f"أبو {son_ar} {nisba_ar}"
    yield "en", f"Abu {son_en[0]} al-{nisba_en}"
    yield "ar", f"{given_ar} {father_ar} {nisba_ar}"
    yield "en", f"{given_en[0]} {father_en[0]} {nisba_en}"


def _place_variants(rng: random.Random, pools: _Pools) -> Iterator[tuple[str, str]]:
    stem = _stem(rng) if rng.random() < 0.9 else pools.draw(rng)
    yield "ar", stem.arabic
    yield "en", stem.latin
    yield "ar", f"مدينة {stem.arabic}"
    yield "en", f"{stem.latin} City"
    yield "ar", f"محافظة {stem.arabic}"
    yield "en", f"{stem.latin} Governorate"
    yield "en", f"{stem.latin}a"


def _org_variants(rng: random.Random, pools: _Pools) -> Iterator[tuple[str, str]]:
    arabic_form, latin_form = rng.choice(_ORGS)
    stem, second = pools.draw(rng), _stem(rng)
    yield "ar", arabic_form.format(f"{stem.arabic} {second.arabic}")
    yield "en", latin_form.format(f"{stem.latin} {second.latin}")
    yield "ar", arabic_form.format(f"ال{second.arabic}")
    yield "en", latin_form.format(f"al-{second.latin}")
    yield "en", f"{stem.latin}-{second.latin}"
    yield "ar", f"{stem.arabic} {second.arabic}"


def _variants(kind: str, rng: random.Random, pools: _Pools, short_form: bool) -> Iterator[tuple[str, str]]:
    if kind == "person":
        return _person_variants(rng, pools, short_form)
    if kind == "place":
        return _place_variants(rng, pools)
    return _org_variants(rng, pools)


def _key(name: str) -> bytes:
    """What matching compares: the name's normalized tokens (docs/contract.md "Matching" rules 1-2)."""
    return internal_form(name)


def make_lexicon(
    entities: int, names: int, seed: int = 20161022, shared: bool = True, short_forms: float = 0.02
) -> list[LexiconEntity]:
    """``entities`` entities with ``names`` names in all (at least one Arabic and one English name each).

    With ``shared``, a share ``short_forms`` of people also list their bare family name, which other
    entities share; without it, a name normalizing like a name of an earlier entity is left out.
    """
    if names < 2 * entities:
        raise ValueError("every entity needs an Arabic and an English name: names >= 2 * entities")
    rng = random.Random(seed)
    pools = _Pools(rng, max(2000, entities))
    owner: dict[bytes, int] = {}
    lexicon: list[LexiconEntity] = []
    kinds, weights = zip(*_KINDS, strict=True)
    while len(lexicon) < entities:
        index = len(lexicon)
        wanted = (names * (index + 1)) // entities - (names * index) // entities
        kind = rng.choices(kinds, weights=weights)[0]
        chosen = _choose(
            _variants(kind, rng, pools, rng.random() < short_forms), wanted, owner, index, shared
        )
        if chosen is None:
            continue  # too few distinct names left for this draw: draw another entity
        for _language, name in chosen:
            owner.setdefault(_key(name), index)
        by_language: dict[str, list[str]] = {"ar": [], "en": []}
        for language, name in chosen:
            by_language[language].append(name)
        lexicon.append(LexiconEntity(f"{kind}-{index:07d}", by_language))
    return lexicon


def _choose(
    variants: Iterator[tuple[str, str]], wanted: int, owner: dict[bytes, int], index: int, shared: bool
) -> list[tuple[str, str]] | None:
    """The first ``wanted`` variants distinct after normalization, with both languages present."""
    chosen: list[tuple[str, str]] = []
    seen: set[bytes] = set()
    for language, name in variants:
        key = _key(name)
        if key in seen or (not shared and owner.get(key, index) != index):
            continue
        seen.add(key)
        chosen.append((language, name))
        if len(chosen) == wanted:
            break
    languages = {language for language, _ in chosen}
    return chosen if len(chosen) == wanted and languages == {"ar", "en"} else None


def shared_names(lexicon: list[LexiconEntity]) -> int:
    """How many distinct normalized names belong to more than one entity."""
    owners: dict[bytes, set[str]] = {}
    for entity in lexicon:
        for names in entity.names.values():
            for name in names:
                owners.setdefault(_key(name), set()).add(entity.id)
    return sum(len(ids) > 1 for ids in owners.values())


def write_jsonl(lexicon: list[LexiconEntity], path: Path) -> None:
    """One entity object per line (the entity-file format)."""
    with open(path, "wb") as out:
        for entity in lexicon:
            out.write(entity.json_line() + b"\n")


def write_yaml(lexicon: list[LexiconEntity], path: Path) -> None:
    """A watchlist YAML with the lexicon as inline ``entities`` (one flow mapping per entity)."""
    with open(path, "wb") as out:
        out.write(b"entities:\n")
        for entity in lexicon:
            out.write(b"  - id: " + entity.id.encode() + b"\n    names:\n")
            for language, names in entity.names.items():
                # a JSON list of strings is a YAML flow sequence
                out.write(f"      {language}: ".encode() + orjson.dumps(names) + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, required=True)
    parser.add_argument("--names", type=int, required=True, help="names in all (>= 2 per entity)")
    parser.add_argument("--seed", type=int, default=20161022)
    parser.add_argument("--no-shared", action="store_true", help="no name shared between entities")
    parser.add_argument("--format", choices=("jsonl", "yaml"), default="jsonl")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    lexicon = make_lexicon(args.entities, args.names, args.seed, shared=not args.no_shared)
    (write_yaml if args.format == "yaml" else write_jsonl)(lexicon, args.out)
    print(f"{args.out}: {len(lexicon)} entities, {args.names} names, {shared_names(lexicon)} shared")


if __name__ == "__main__":
    main()
