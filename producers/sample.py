"""SYNTHETIC sample articles whose entity mentions are known by construction (ops/sample/)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from producers.ids import article_id
from producers.sample_text import AR_FILLER, AR_SLOTS, AR_TITLES, EN_FILLER, EN_SLOTS, EN_TITLES

# Entity ids and names of ops/watchlist.yaml; a test checks each name is listed there.
ENTITY_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "isis": {
        "ar": ("داعش", "الدولة الإسلامية", "تنظيم الدولة"),
        "en": ("ISIS", "ISIL", "Daesh", "Islamic State"),
    },
    "mosul": {"ar": ("الموصل",), "en": ("Mosul",)},
    "raqqa": {"ar": ("الرقة",), "en": ("Raqqa",)},
    "baghdad": {"ar": ("بغداد",), "en": ("Baghdad",)},
    "ankara": {"ar": ("أنقرة",), "en": ("Ankara",)},
    "erdogan": {"ar": ("أردوغان",), "en": ("Erdogan",)},
    "turkey": {"ar": ("تركيا",), "en": ("Turkey",)},
    "iraq": {"ar": ("العراق",), "en": ("Iraq",)},
    "syria": {"ar": ("سوريا", "سورية"), "en": ("Syria",)},
    "carter": {"ar": ("كارتر",), "en": ("Carter",)},
}
# Background weights: raqqa is rare so that the planted burst stands out as a spike.
ENTITY_WEIGHTS = {
    "isis": 8,
    "mosul": 6,
    "raqqa": 1,
    "baghdad": 5,
    "ankara": 3,
    "erdogan": 3,
    "turkey": 5,
    "iraq": 7,
    "syria": 6,
    "carter": 2,
}
START = datetime(2026, 11, 20, tzinfo=UTC)
SPAN = timedelta(days=3)
BURST_ENTITY = "raqqa"
BURST_START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BURST_MINUTES = 10
BURST_COUNT = 60
OFFSETS = (UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5)))
SOURCES_PER_LANG = 5
URL_BASE = "https://synthetic.newsmon.invalid"  # .invalid: a reserved name that never resolves
TITLE_PREFIX = "[synthetic] "


@dataclass
class Draft:
    """An article under construction and the mentions put into it."""

    lang: str
    sentences: list[str] = field(default_factory=list)
    mentions: Counter[str] = field(default_factory=Counter)


def arabic_form(name: str, rng: random.Random) -> str:
    """The name with optional proclitics (و/ف then ب/ك/ل; ل + ال written لل) on its first word."""
    conj = rng.choice(("", "", "و", "ف"))
    prep = rng.choice(("", "", "ب", "ل", "ك"))
    if prep == "ل" and name.startswith("ال"):
        return conj + "ل" + name[1:]  # ل + الموصل → للموصل
    return conj + prep + name


def decorated_arabic(name: str, rng: random.Random) -> str:
    """Sometimes a spelling the matcher must normalize: tatweel, a diacritic, a zero-width mark, «»."""
    roll = rng.random()
    if roll < 0.05 and len(name) > 3:
        return name[:2] + "\u0640" + name[2:]  # tatweel inside the word
    if roll < 0.10:
        return name + "\u064e"  # fatha on the last letter
    if roll < 0.13 and len(name) > 3:
        return name[:2] + "\u200c" + name[2:]  # zero-width non-joiner
    if roll < 0.20:
        return f"«{name}»،"
    return name


def english_form(name: str, rng: random.Random) -> str:
    """The name, sometimes with punctuation or case the tokenizer must see through."""
    roll = rng.random()
    if roll < 0.05:
        return name.upper()
    if roll < 0.10:
        return f"{name}'s"
    if roll < 0.15 and " " not in name:
        return f"{name}-based"
    if roll < 0.20:
        return f"({name})"
    if roll < 0.23 and name == "Erdogan":
        return "Erdoğan"
    return name


def mention(entity: str, lang: str, rng: random.Random) -> str:
    """One surface form of an entity name in the article's language."""
    name = rng.choice(ENTITY_NAMES[entity][lang])
    if lang == "ar":
        return decorated_arabic(arabic_form(name, rng), rng)
    return english_form(name, rng)


def slot_sentence(entity: str, lang: str, rng: random.Random) -> str:
    """A sentence with exactly one mention of ``entity``."""
    template = rng.choice(AR_SLOTS if lang == "ar" else EN_SLOTS)
    return template.format(e=mention(entity, lang, rng))


def filler_sentence(lang: str, rng: random.Random) -> str:
    return rng.choice(AR_FILLER if lang == "ar" else EN_FILLER)


def pick_entities(rng: random.Random, forced: str | None) -> Counter[str]:
    """How many times each entity goes into an article: 0–3 entities, 1–4 mentions each."""
    chosen: Counter[str] = Counter()
    names = list(ENTITY_WEIGHTS)
    weights = list(ENTITY_WEIGHTS.values())
    for entity in rng.choices(names, weights, k=rng.choice((0, 1, 1, 2, 2, 3))):
        chosen[entity] = rng.randint(1, 4)
    if forced:
        chosen[forced] = max(chosen[forced], rng.randint(1, 3))
    return chosen


def compose_body(lang: str, mentions: Counter[str], target_bytes: int, rng: random.Random) -> str:
    """Filler paragraphs of about ``target_bytes`` UTF-8 bytes with the mentions spread among them."""
    sentences: list[str] = []
    size = 0
    while size < target_bytes:
        sentence = filler_sentence(lang, rng)
        if sentences and sentence == sentences[-1]:
            continue
        sentences.append(sentence)
        size += len(sentence.encode()) + 1
    for entity, n in mentions.items():
        for _ in range(n):
            sentences.insert(rng.randrange(len(sentences) + 1), slot_sentence(entity, lang, rng))
    paragraphs = [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    return "\n\n".join(paragraphs)


def compose_title(lang: str, mentions: Counter[str], rng: random.Random) -> tuple[str, Counter[str]]:
    """A title; half the time it names one of the article's entities (counted)."""
    in_title: Counter[str] = Counter()
    template = rng.choice(AR_TITLES if lang == "ar" else EN_TITLES)
    if mentions and rng.random() < 0.5:
        entity = rng.choice(sorted(mentions))
        in_title[entity] = 1
        return TITLE_PREFIX + template.format(e=mention(entity, lang, rng)), in_title
    neutral = "المنطقة" if lang == "ar" else "the region"
    return TITLE_PREFIX + template.format(e=neutral), in_title


def make_article(
    number: int, published: datetime, rng: random.Random, forced: str | None = None
) -> tuple[dict[str, object], Counter[str], Counter[str]]:
    """One synthetic article (Article JSON fields), its true mention counts, and those in its title."""
    lang = rng.choice(("ar", "en"))
    mentions = pick_entities(rng, forced)
    target_bytes = int(rng.triangular(800, 4000, 1000))
    body = compose_body(lang, mentions, target_bytes, rng)
    title, in_title = compose_title(lang, mentions, rng)
    url = f"{URL_BASE}/{lang}/{number:06d}"
    local = published.astimezone(rng.choice(OFFSETS))
    article: dict[str, object] = {
        "id": article_id(url, title, body),
        "url": url,
        "title": title,
        "body": body,
        "lang": lang,
        "source": f"synthetic-{lang}-{rng.randint(1, SOURCES_PER_LANG)}",
        "published_at": local.isoformat(),
        "fetched_at": (local + timedelta(seconds=rng.randint(5, 600))).isoformat(),
    }
    return article, mentions + in_title, in_title


def publication_times(count: int, rng: random.Random) -> Iterator[tuple[datetime, str | None]]:
    """(published_at UTC, forced entity) for the background and the planted burst, in time order."""
    background = count - BURST_COUNT
    span_s = int(SPAN.total_seconds())
    times: list[tuple[datetime, str | None]] = [
        (START + timedelta(seconds=rng.randrange(span_s)), None) for _ in range(background)
    ]
    burst_s = BURST_MINUTES * 60
    times += [
        (BURST_START + timedelta(seconds=rng.randrange(burst_s)), BURST_ENTITY) for _ in range(BURST_COUNT)
    ]
    yield from sorted(times, key=lambda item: item[0])


def minute_bucket(published_at: str) -> str:
    """The UTC minute of an ISO-8601 time, as ``YYYY-MM-DDTHH:MMZ``."""
    return datetime.fromisoformat(published_at).astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def expected_counts(
    articles: list[tuple[dict[str, object], Counter[str], Counter[str]]],
) -> dict[str, object]:
    """expected.json: per-article mentions, totals per entity and per (entity, UTC minute), the
    articles naming each entity in their title (a rule with ``in: title``), the burst."""
    per_article: dict[str, dict[str, int]] = {}
    totals: Counter[str] = Counter()
    titles: Counter[str] = Counter()
    per_minute: dict[str, Counter[str]] = defaultdict(Counter)
    burst_mentions = 0
    burst_end = BURST_START + timedelta(minutes=BURST_MINUTES)
    for article, mentions, in_title in articles:
        per_article[str(article["id"])] = dict(sorted(mentions.items()))
        totals.update(mentions)
        titles.update(in_title.keys())
        published = str(article["published_at"])
        for entity, n in mentions.items():
            per_minute[entity][minute_bucket(published)] += n
        if BURST_START <= datetime.fromisoformat(published) < burst_end:
            burst_mentions += mentions[BURST_ENTITY]
    return {
        "_comment": "SYNTHETIC data made by `python -m producers sample`; counts are true by construction.",
        "articles": per_article,
        "totals": dict(sorted(totals.items())),
        "per_minute": {entity: dict(sorted(c.items())) for entity, c in sorted(per_minute.items())},
        "articles_with_entity_in_title": dict(sorted(titles.items())),
        "planted_burst": {
            "entity": BURST_ENTITY,
            "start": BURST_START.isoformat(),
            "end": burst_end.isoformat(),
            "count": BURST_COUNT,
            "mentions_in_window": burst_mentions,
        },
    }


def generate(count: int, seed: int) -> tuple[list[dict[str, object]], dict[str, object]]:
    """``count`` synthetic articles in published_at order, and their expected counts."""
    if count < BURST_COUNT:
        raise ValueError(f"count must be at least {BURST_COUNT} (the planted burst)")
    rng = random.Random(seed)
    made = [
        make_article(number, published, rng, forced)
        for number, (published, forced) in enumerate(publication_times(count, rng), start=1)
    ]
    return [article for article, _, _ in made], expected_counts(made)
