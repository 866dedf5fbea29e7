"""Full-text policy: when to fetch, robots.txt answers, host pacing (fake clock, recorded sleeps)."""

from __future__ import annotations

import pytest

from producers.fulltext.policy import FulltextMode, HostGate, RobotsRules, wants_fulltext

ROBOTS = "User-agent: *\nDisallow: /private/\nCrawl-delay: 3\n\nUser-agent: newsmon\nDisallow: /no-bots/\n"


@pytest.mark.parametrize(
    ("mode", "text", "link", "min_chars", "expected"),
    [
        (FulltextMode.AUTO, "short summary", "https://a.test/1", 600, True),
        (FulltextMode.AUTO, "x" * 600, "https://a.test/1", 600, False),
        (FulltextMode.AUTO, "short", "https://a.test/1", 0, False),  # threshold 0: auto is off
        (FulltextMode.ALWAYS, "x" * 5000, "https://a.test/1", 0, True),
        (FulltextMode.NEVER, "short", "https://a.test/1", 600, False),
        (FulltextMode.ALWAYS, "short", "ftp://a.test/1", 600, False),
        (FulltextMode.ALWAYS, "short", "", 600, False),
    ],
)
def test_wants_fulltext(mode: FulltextMode, text: str, link: str, min_chars: int, expected: bool) -> None:
    assert wants_fulltext(mode, text, link, min_chars) is expected


def test_robots_answers_per_rfc_9309() -> None:
    rules = RobotsRules.from_response(200, ROBOTS, 0.0)
    assert rules.allows("https://a.test/news/1", "otherbot/1.0")
    assert not rules.allows("https://a.test/private/1", "otherbot/1.0")
    assert rules.crawl_delay("otherbot/1.0") == 3.0
    # Our user agent has its own group, which replaces the * group (robots.txt semantics).
    ua = "newsmon-fulltext/0.1"
    assert (rules.allows("https://a.test/no-bots/1", ua), rules.allows("https://a.test/private/1", ua)) == (
        False,
        True,
    )
    assert rules.crawl_delay(ua) == 0.0
    assert RobotsRules.from_response(404, "", 0.0).allows("https://a.test/private/1", "x")  # no robots.txt
    assert not RobotsRules.from_response(503, "", 0.0).allows("https://a.test/news/1", "x")  # try later
    assert not RobotsRules.from_response(None, "", 0.0).allows("https://a.test/news/1", "x")  # unreachable


async def test_host_gate_spaces_starts_per_origin() -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    gate = HostGate(per_host=1, min_delay_s=2.0, clock=lambda: 100.0, sleep=record)
    for url in ["https://a.test/1", "https://a.test/2", "https://b.test/1", "https://a.test/3"]:
        async with gate.slot(url):
            pass
    assert slept == [2.0, 4.0]  # a.test/2 and a.test/3 wait their turn; b.test is another origin
    async with gate.slot("https://b.test/2", extra_delay_s=5.0):  # a Crawl-delay longer than ours
        pass
    async with gate.slot("https://b.test/3"):
        pass
    assert slept == [2.0, 4.0, 2.0, 7.0]
