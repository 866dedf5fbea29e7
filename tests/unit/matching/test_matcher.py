"""Matching rules (docs/contract.md "Matching" 2-4), the seed article counted by hand, and cross-checks."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.matching.matcher import Match, Matcher, tokenize
from streams.watchlist.file import load_watchlist
from tests.unit.matching.reference_matcher import ReferenceMatcher

ENTITIES = {
    "isis": ["داعش", "الدولة الإسلامية", "تنظيم الدولة", "ISIS", "Islamic State"],
    "isis_full": ["تنظيم الدولة الإسلامية"],
    "mosul": ["الموصل", "Mosul"],
    "raqqa": ["الرقة"],
    "baghdad": ["بغداد"],
    "iraq": ["العراق"],
    "lebanon": ["لبنان"],
    "washington": ["واشنطن"],
    "blinken": ["بلينكن"],
    "carter": ["كارتر", "آشتون كارتر"],
    "us": ["الولايات المتحدة"],
    "syria": ["سوريا"],
    "trump": ["Trump"],
    "erdogan": ["Erdoğan"],
    "ab": ["alpha beta"],
    "bc": ["beta gamma"],
}


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(ENTITIES)


def mentions(matcher: Matcher, text: str) -> dict[str, int]:
    return matcher.mentions(text, "")


# --- tokens ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mosul-based", ["mosul", "based"]),
        ("«داعش»،", ["داعش"]),
        ("Trump’s", ["trump", "s"]),
        ("ار.تي.ال", ["ار", "تي", "ال"]),
        ("5000 و6000", ["5000", "و6000"]),
        ("", []),
        ("...", []),
    ],
)
def test_tokenize(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


# --- proclitics -----------------------------------------------------------------------------------

ALL_STACKS = ["", "و", "ف", "ب", "ك", "ل", "وب", "وك", "ول", "فب", "فك", "فل"]


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_clitic_stack_on_a_plain_name(matcher: Matcher, stack: str) -> None:
    assert mentions(matcher, f"{stack}داعش") == {"isis": 1}
    assert mentions(matcher, f"{stack}بغداد") == {"baghdad": 1}


@pytest.mark.parametrize("stack", ["", "و", "ف", "ب", "ك", "وب", "وك", "فب", "فك"])
def test_clitic_stacks_without_lam_on_an_al_name(matcher: Matcher, stack: str) -> None:
    assert mentions(matcher, f"{stack}الموصل") == {"mosul": 1}


@pytest.mark.parametrize("text", ["للموصل", "وللموصل", "فللموصل", "للرقة", "للعراق", "للولايات المتحدة"])
def test_lam_assimilates_with_al(matcher: Matcher, text: str) -> None:
    assert sum(mentions(matcher, text).values()) == 1


@pytest.mark.parametrize("text", ["لالموصل", "ولالموصل", "فلالموصل"])
def test_lam_before_al_must_be_assimilated(matcher: Matcher, text: str) -> None:
    assert mentions(matcher, text) == {}


def test_combined_clitics(matcher: Matcher) -> None:
    assert mentions(matcher, "وبالرقة فللموصل وكداعش") == {"raqqa": 1, "mosul": 1, "isis": 1}


@pytest.mark.parametrize(
    "text",
    [
        "الموصلات",  # suffix
        "العراقية",  # suffix
        "داعشي",  # suffix
        "برقة",  # a proclitic never replaces ال
        "لرقة",
        "موصل",  # the name without its ال
        "ووداعش",  # two conjunctions
        "فوداعش",
        "ببداعش",  # two prepositions (ببغداد is fine: ب + بغداد)
        "كلداعش",
        "بلداعش",
        "بوداعش",  # preposition before conjunction
        "مالموصل",  # not a proclitic
        "اشنطن",  # a name that starts with و needs its و
        "لينكن",
    ],
)
def test_no_suffixes_and_no_other_prefixes(matcher: Matcher, text: str) -> None:
    assert mentions(matcher, text) == {}


def test_names_starting_with_clitic_letters_match_exactly(matcher: Matcher) -> None:
    assert mentions(matcher, "واشنطن بلينكن لبنان") == {"washington": 1, "blinken": 1, "lebanon": 1}
    # and take proclitics of their own
    assert mentions(matcher, "وواشنطن ولبنان للبنان وبلينكن") == {"washington": 1, "lebanon": 2, "blinken": 1}


def test_latin_names_take_no_proclitics(matcher: Matcher) -> None:
    assert mentions(matcher, "وISIS بMosul") == {}


# --- multi-token names, longest match, overlaps ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "الدولة الإسلامية",
        "الدولة\nالإسلامية",
        "الدولة\n\n\nالإسلامية",
        "الدولة، «الإسلامية»",
        "الدولة - الإسلامية",
        "والدولة الإسلامية",
        "فبالدولة،\n\n«الإسلامية»",  # proclitics on the first token, searched from the second
        "للدولة الإسلامية",  # ل + ال written لل on the first token, searched from the second
        "وللدولة\nالإسلامية",
    ],
)
def test_multi_token_name_across_separators(matcher: Matcher, text: str) -> None:
    assert mentions(matcher, text) == {"isis": 1}


def test_proclitics_attach_to_the_first_token_only(matcher: Matcher) -> None:
    assert mentions(matcher, "الولايات والمتحدة") == {}
    assert mentions(matcher, "وبالولايات المتحدة") == {"us": 1}


def test_longest_match_wins(matcher: Matcher) -> None:
    # تنظيم الدولة (isis) and الدولة الإسلامية (isis) are both inside the longer name
    assert mentions(matcher, "تنظيم الدولة الإسلامية") == {"isis_full": 1}
    assert mentions(matcher, "لتنظيم الدولة الإسلامية") == {"isis_full": 1}
    assert mentions(matcher, "تنظيم الدولة") == {"isis": 1}
    assert mentions(matcher, "آشتون كارتر وكارتر") == {"carter": 2}


def test_matches_do_not_overlap(matcher: Matcher) -> None:
    # alpha beta / beta gamma: equal length, the leftmost wins and the other is not counted
    assert mentions(matcher, "alpha beta gamma") == {"ab": 1}
    assert mentions(matcher, "alpha beta beta gamma") == {"ab": 1, "bc": 1}


def test_each_match_counts_once_over_title_and_body(matcher: Matcher) -> None:
    assert matcher.mentions("داعش في الموصل", "داعش، داعش. Mosul") == {"isis": 3, "mosul": 2}


def test_no_match_across_title_and_body(matcher: Matcher) -> None:
    assert matcher.mentions("تنظيم", "الدولة الإسلامية") == {"isis": 1}
    assert matcher.mentions("الولايات", "المتحدة") == {}
    assert matcher.mentions("alpha", "beta") == {}


# --- English and Unicode details ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MOSUL mosul Mosul", {"mosul": 3}),
        ("Mosul-based forces", {"mosul": 1}),
        ("Trump’s Trump's trumps", {"trump": 2}),
        ("ERDOGAN Erdogan erdoğan", {"erdogan": 3}),
        ("the islamic\nSTATE", {"isis": 1}),
        ("crisis isis-held", {"isis": 1}),
        ("«داعش»،", {"isis": 1}),
        ("\ufedf\ufee0\ufee4\ufeee\ufeba\ufede", {"mosul": 1}),  # presentation forms: للموصل
        ("سوریا", {"syria": 1}),  # Persian yeh
        ("کارتر", {"carter": 1}),  # keheh
        ("دا\u200fعش", {"isis": 1}),  # bidi mark inside the word
        ("الموص\u200cل", {"mosul": 1}),  # ZWNJ inside the word
        ("دَاعِشُ", {"isis": 1}),
        ("داعـــش", {"isis": 1}),
    ],
)
def test_english_and_unicode_details(matcher: Matcher, text: str, expected: dict[str, int]) -> None:
    assert mentions(matcher, text) == expected


def test_empty_inputs(matcher: Matcher) -> None:
    assert matcher.mentions("", "") == {}
    assert matcher.find("", "") == []
    assert Matcher({}).mentions("داعش", "") == {}


def test_stats_count_names_and_clitic_patterns() -> None:
    # داعش: 12 proclitic stacks; ISIS: 1; الموصل: 9 stacks without ل + 3 assimilated لل forms;
    # الولايات المتحدة: searched by its longer first word, like الموصل.
    stats = Matcher({"isis": ["داعش", "ISIS"], "mosul": ["الموصل"], "us": ["الولايات المتحدة"]}).stats()
    assert (stats.names, stats.patterns) == (4, 37)
    assert stats.scanner_bytes > 0
    empty = Matcher({}).stats()
    assert (empty.names, empty.patterns) == (0, 0)


def test_a_name_without_letters_is_rejected() -> None:
    with pytest.raises(ValueError, match="has no letters or digits"):
        Matcher({"x": ["«»"]})


# --- find -----------------------------------------------------------------------------------------


def test_find_gives_names_as_written_and_token_indices(matcher: Matcher) -> None:
    found = matcher.find("كارتر في بغداد", "ثم آشتون كارتر وMosul-based داعش\nوالدولة الإسلامية")
    assert found == [
        Match("carter", "كارتر", 0),
        Match("baghdad", "بغداد", 2),
        Match("carter", "آشتون كارتر", 4),
        Match("isis", "داعش", 8),  # وMosul is one token: Latin names take no proclitics
        Match("isis", "الدولة الإسلامية", 9),
    ]


def test_match_is_frozen_and_slotted() -> None:
    match = Match("isis", "داعش", 0)
    assert not hasattr(match, "__dict__")
    with pytest.raises(AttributeError):
        match.token = 1  # type: ignore[misc]


# --- the seed article -----------------------------------------------------------------------------


def test_seed_article_counted_by_hand(seed_title_and_body: tuple[str, str]) -> None:
    """Every mention in the seed, with ops/watchlist.yaml, checked by reading the text.

    Title: كارتر (carter), بأنقرة (ankara via ب), «هزيمة داعش» (isis), بغداد (baghdad).
    Body, in order:
      الولايات المتحدة (united_states 1), وتركيا (turkey 1, و), آشتون كارتر (carter, the longer name),
      أنقرة (ankara), تنظيم داعش (isis: داعش), البنتاغون (pentagon 1), انتوني بلينكن (blinken 1, listed
      as أنتوني بلينكن), الرقة (raqqa 1), داعش (isis), سوريا (syria 1), الموصل (mosul 1);
      كارتر (carter), رجب طيب أردوغان (erdogan, full name), بن علي يلدريم (yildirim, full name),
      تركيا (turkey 2) — التركي and التنظيم are not names;
      البنتاغون (pentagon 2), بداعش (isis, ب);
      كارتر (carter), الولايات المتحدة (united_states 2), وتركيا (turkey 3), واشنطن (united_states 3),
      حلف شمال الأطلسي (nato, longer than الأطلسي);
      واشنطن (united_states 4), تركيا (turkey 4), والعراق (iraq 1, و), الموصل (mosul 2), العراقية (no:
      suffix), تنظيم داعش (isis);
      الولايات المتحدة (united_states 5), تركيا (turkey 5), العراق (iraq 2), بغداد (baghdad),
      الموصل (mosul 3);
      آشتون كارتر (carter), تركيا (turkey 6), العراق (iraq 3);
      أمريكي (no: adjective), واشنطن (united_states 6);
      العراقيين (no), الموصل (mosul 4), العراق (iraq 4);
      بلينكن (blinken 2), الموصل (mosul 5), الرقة (raqqa 2), الموصل (mosul 6), العراق (iraq 5),
      والرقة (raqqa 3, و), سوريا (syria 2);
      الموصل (mosul 7), الرقة (raqqa 4);
      الرقة (raqqa 5), داعش (isis);
      الرقة (raqqa 6), لتنظيم داعش (isis: داعش);
      السوري (no); للعراق (iraq 6, ل + ال written لل);
      بلينكن (blinken 3), الموصل (mosul 8).
    Totals: carter 1 + 4, ankara 1 + 1, isis 1 + 6, baghdad 1 + 1.
    """
    title, body = seed_title_and_body
    matcher = load_watchlist("ops/watchlist.yaml").matcher()
    assert matcher.mentions(title, "") == {"carter": 1, "ankara": 1, "isis": 1, "baghdad": 1}
    assert matcher.mentions(title, body) == {
        "carter": 5,
        "ankara": 2,
        "isis": 7,
        "baghdad": 2,
        "united_states": 6,
        "turkey": 6,
        "pentagon": 2,
        "blinken": 3,
        "raqqa": 6,
        "syria": 2,
        "mosul": 8,
        "erdogan": 1,
        "yildirim": 1,
        "nato": 1,
        "iraq": 6,
    }


def test_seed_article_find_lists_matched_names(seed_title_and_body: tuple[str, str]) -> None:
    title, body = seed_title_and_body
    matcher = load_watchlist("ops/watchlist.yaml").matcher()
    found = matcher.find(title, body)
    assert found[:6] == [
        Match("carter", "كارتر", 0),
        Match("ankara", "أنقرة", 2),
        Match("isis", "داعش", 6),
        Match("baghdad", "بغداد", 10),
        Match("united_states", "الولايات المتحدة", 12),  # the body starts at token 11
        Match("turkey", "تركيا", 14),
    ]
    assert [m.name for m in found if m.entity == "erdogan"] == ["رجب طيب أردوغان"]
    assert len(found) == 58


# --- cross-checks against the token-by-token reference --------------------------------------------

_NEAR_MISSES = ["الموصلات", "داعشي", "برقة", "لالموصل", "موصل", "لموصل", "اشنطن", "Mosul-based", "Trump’s"]
_PHRASES = [
    "alpha beta gamma",
    "beta gamma alpha beta",
    "الدولة الدولة الإسلامية",
    "تنظيم الدولة،الإسلامية",
    "للدولة الإسلامية",
    "للولايات المتحدة",
    "فللدولة  الإسلامية",
    "لالدولة الإسلامية",
]
_FILLER = ["في", "من", "على", "قال", "the", "of", "and", "ال", "و", "ل", "لل", "alpha", "beta", "gamma"]
_NOISE = ["\u200f", "\u064e", "\u0640", "é", "ß", "ﻟ", "ی", "ک", "Москва", "و\u0654", "\ufeff"]
_PREFIXES = ["", "", "", "و", "ف", "ب", "ل", "ك", "وب", "فل", "لل", "ال", "ولل"]
_GLUE = [" ", " ", " ", "\n", "، ", ". ", "-", "«", "»", ""]


def _with_proclitics(rng: random.Random, word: str) -> str:
    prefix = rng.choice(_PREFIXES)
    if word.startswith("ال") and prefix.endswith("ل") and rng.random() < 0.5:
        return prefix + word[1:]  # the assimilated لل form
    return prefix + word


def _generated_text(rng: random.Random, names: list[str]) -> str:
    parts = []
    for _ in range(rng.randint(0, 40)):
        pool = rng.choice([names, _NEAR_MISSES, _PHRASES, _FILLER, _NOISE])
        parts.append(_with_proclitics(rng, rng.choice(pool)) + rng.choice(_GLUE))
    return "".join(parts)


def test_fast_matcher_agrees_with_reference_on_generated_text(matcher: Matcher) -> None:
    reference = ReferenceMatcher(ENTITIES)
    names = [name for names in ENTITIES.values() for name in names]
    rng = random.Random(20161022)
    for _ in range(1500):
        title, body = _generated_text(rng, names), _generated_text(rng, names)
        expected = reference.find(title, body)
        assert [(m.entity, m.name, m.token) for m in matcher.find(title, body)] == expected
        assert matcher.mentions(title, body) == reference.mentions(title, body)


def test_fast_matcher_agrees_with_reference_on_the_seed(seed_title_and_body: tuple[str, str]) -> None:
    title, body = seed_title_and_body
    watchlist = load_watchlist("ops/watchlist.yaml")
    reference = ReferenceMatcher(watchlist.entity_names())
    found = watchlist.matcher().find(title, body)
    assert [(m.entity, m.name, m.token) for m in found] == reference.find(title, body)


_INVISIBLE = st.sampled_from(
    [chr(c) for c in (*range(0x064B, 0x0653), *range(0x0656, 0x0660), 0x0670, 0x0610, 0x06D6, 0x06ED)]
    + ["\u0640", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\ufeff"]
)
_TEXT = st.lists(
    st.sampled_from(
        [*(n for ns in ENTITIES.values() for n in ns), *_NEAR_MISSES, *_FILLER, *_GLUE, *_PREFIXES]
    )
    | st.text(max_size=4),
    max_size=20,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.data())
def test_inserted_marks_never_change_mentions(matcher: Matcher, text: str, data: st.DataObject) -> None:
    """Diacritics (except the hamza/madda marks that compose with a letter under NFKC), tatweel,
    bidi and zero-width marks inserted anywhere leave the mentions unchanged."""
    marked = list(text)
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        position = data.draw(st.integers(min_value=0, max_value=len(marked)))
        marked.insert(position, data.draw(_INVISIBLE))
    assert matcher.mentions("".join(marked), text) == matcher.mentions(text, text)


@settings(max_examples=200, deadline=None)
@given(_TEXT, _TEXT)
def test_fast_matcher_agrees_with_reference_on_any_text(matcher: Matcher, title: str, body: str) -> None:
    expected = ReferenceMatcher(ENTITIES).find(title, body)
    assert [(m.entity, m.name, m.token) for m in matcher.find(title, body)] == expected


_ANCHORED_IN_THE_MIDDLE = {
    "middle": ["red longestword blue", "وحلف الأطلسيات شمال"],
    "second": ["للدولة الإسلاميات", "alpha betagammadelta"],
    "anchor_alone": ["longestword", "الأطلسيات"],
}
_SEPARATOR_RUNS = ["", " ", "  ", "   ", "    ", ", ", " — ", "\n\n", "«", "»، «", "\u200f "]


@pytest.mark.parametrize("left", _SEPARATOR_RUNS)
@pytest.mark.parametrize("right", _SEPARATOR_RUNS)
def test_tokens_around_the_anchor_across_separator_runs(left: str, right: str) -> None:
    """The C-level first test around an anchor hit handles runs of one and two spaces itself and
    leaves longer ones to the full walk: every run must give the reference's answer."""
    matcher = Matcher(_ANCHORED_IN_THE_MIDDLE)
    reference = ReferenceMatcher(_ANCHORED_IN_THE_MIDDLE)
    texts = [
        f"red{left}longestword{right}blue",
        f"x red{left}longestword{right}bluex red{left}longestword",
        f"وحلف{left}الأطلسيات{right}شمال",
        f"فوحلف{left}الأطلسيات{right}شمال حلف{left}الأطلسيات{right}شمال",
        f"للدولة{left}الإسلاميات{right}والدولة{left}الإسلاميات",
        f"alpha{left}betagammadelta{right}alpha{right}betagammadelta",
    ]
    for text in texts:
        for title, body in (
            (text, ""),
            ("", text),
            (text, text),
            (text[: len(text) // 2], text[len(text) // 2 :]),
        ):
            expected = reference.find(title, body)
            assert [(m.entity, m.name, m.token) for m in matcher.find(title, body)] == expected
            assert matcher.mentions(title, body) == reference.mentions(title, body)


def test_names_that_normalize_alike_compile_once_and_a_shared_name_counts_for_each_entity() -> None:
    matcher = Matcher({"erdogan": ["أردوغان", "اردوغان", "إردوغان"], "other": ["اردوغان"]})
    assert matcher.stats().names == 1
    assert matcher.stats().shared_names == 1
    assert matcher.shared_names(5) == [(("erdogan", "أردوغان"), ("other", "اردوغان"))]
    found = matcher.find("", "قال اردوغان وإردوغان")
    assert [(m.entity, m.name, m.token) for m in found] == [
        ("erdogan", "أردوغان", 1),
        ("other", "اردوغان", 1),
        ("erdogan", "أردوغان", 2),
        ("other", "اردوغان", 2),
    ]
    assert matcher.mentions("", "قال اردوغان وإردوغان") == {"erdogan": 2, "other": 2}


def test_a_shared_name_inside_a_longer_name_of_one_entity_is_not_counted() -> None:
    # Longest match wins first (rule 4); only then does a shared name count for each of its entities.
    matcher = Matcher({"jordan_river": ["Jordan River"], "jordan": ["Jordan"], "jordan_person": ["Jordan"]})
    assert matcher.mentions("", "the Jordan River and Jordan") == {
        "jordan_river": 1,
        "jordan": 1,
        "jordan_person": 1,
    }


def test_the_anchor_is_the_token_in_fewest_names() -> None:
    # Khalid is the longest token of "Abu Khalid al-Zaidi" but is in every Khalid; zaidi is in one name.
    names = {f"p{i}": [f"Khalid al-Name{i}"] for i in range(50)} | {"zai": ["Abu Khalid al-Zaidi"]}
    matcher = Matcher(names)
    assert matcher.stats().patterns == 51  # each name on its own token; on Khalid it would be 1
    assert matcher.mentions("", "Abu Khalid al-Zaidi met Khalid al-Name7") == {"zai": 1, "p7": 1}
