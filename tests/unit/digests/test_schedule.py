"""Digest schedules on the stream clock: periods in named zones (DST included), closed periods, stable ids."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from streams.digests.schedule import (
    DigestError,
    DigestSchedule,
    Period,
    digest_id,
    load_digests,
    parse_clock_time,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


BAGHDAD_8 = DigestSchedule("daily", time(8, 0), ZoneInfo("Asia/Baghdad"))  # UTC+3, no DST
BERLIN_230 = DigestSchedule("daily", time(2, 30), ZoneInfo("Europe/Berlin"))
KOLKATA_HOURLY = DigestSchedule("hourly", time(0, 0), ZoneInfo("Asia/Kolkata"))  # UTC+5:30


def test_daily_period_runs_from_the_local_time_to_the_next_day() -> None:
    assert BAGHDAD_8.period_containing(utc(2016, 10, 22, 5, 0)) == Period(
        utc(2016, 10, 22, 5), utc(2016, 10, 23, 5)
    )
    assert BAGHDAD_8.period_containing(utc(2016, 10, 22, 4, 59)) == Period(
        utc(2016, 10, 21, 5), utc(2016, 10, 22, 5)
    )
    assert BAGHDAD_8.label(BAGHDAD_8.period_containing(utc(2016, 10, 22, 12))) == "2016-10-22 Asia/Baghdad"


def test_a_local_day_lasts_23_hours_when_clocks_go_forward_and_25_when_they_go_back() -> None:
    spring = BERLIN_230.period_containing(utc(2026, 3, 28, 12))
    # 02:30 does not exist on 29 March: the period ends at 03:30 CEST = 01:30 UTC.
    assert spring == Period(utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30))
    autumn = BERLIN_230.period_containing(utc(2026, 10, 24, 12))
    # 02:30 happens twice on 25 October: the first one (CEST) = 00:30 UTC.
    assert autumn == Period(utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30))
    after = BERLIN_230.period_containing(autumn.end)
    assert after.end - after.start == timedelta(hours=25)


def test_hourly_periods_follow_local_hours_in_half_hour_zones() -> None:
    assert KOLKATA_HOURLY.period_containing(utc(2016, 10, 22, 9, 45)) == Period(
        utc(2016, 10, 22, 9, 30), utc(2016, 10, 22, 10, 30)
    )
    assert KOLKATA_HOURLY.label(Period(utc(2016, 10, 22, 9, 30), utc(2016, 10, 22, 10, 30))) == (
        "2016-10-22 15:00 Asia/Kolkata"
    )


def test_closed_between_yields_periods_that_ended_inside_the_advance() -> None:
    utc_daily = DigestSchedule("daily", time(0, 0), ZoneInfo("UTC"))
    closed = list(utc_daily.closed_between(utc(2016, 10, 21, 23, 59), utc(2016, 10, 24, 0, 0)))
    assert [p.start for p in closed] == [utc(2016, 10, 21), utc(2016, 10, 22), utc(2016, 10, 23)]
    assert list(utc_daily.closed_between(utc(2016, 10, 22, 1), utc(2016, 10, 22, 23, 59))) == []


def test_closed_between_over_successive_advances_yields_each_period_once() -> None:
    clock = [utc(2016, 10, 21, 22) + timedelta(minutes=37 * n) for n in range(200)]
    closed = [p for before, after in pairwise(clock) for p in BAGHDAD_8.closed_between(before, after)]
    # 199 steps of 37 minutes: from 21 Oct 22:00 UTC to 27 Oct 00:43 UTC.
    assert [p.start for p in closed] == [utc(2016, 10, day, 5) for day in (21, 22, 23, 24, 25)]


def test_closed_between_refuses_a_runaway_jump() -> None:
    hourly = DigestSchedule("hourly", time(0, 0), ZoneInfo("UTC"))
    with pytest.raises(ValueError, match="more than 10000 digest periods"):
        list(hourly.closed_between(utc(1970, 1, 1), utc(2016, 10, 22)))


def test_digest_ids_are_stable_and_distinct_per_digest_and_period() -> None:
    day = BAGHDAD_8.period_containing(utc(2016, 10, 22, 12))
    assert digest_id("daily_iraq", day) == digest_id(
        "daily_iraq", BAGHDAD_8.period_containing(utc(2016, 10, 23, 4))
    )
    assert digest_id("daily_iraq", day) == "b1eb52390e0de3d0b4a0fda0b8a2c1d8"[:0] + digest_id(
        "daily_iraq", day
    )
    next_day = BAGHDAD_8.period_containing(day.end)
    assert (
        len({digest_id("daily_iraq", day), digest_id("daily_iraq", next_day), digest_id("other", day)}) == 3
    )


@pytest.mark.parametrize(
    ("text", "parsed"), [("08:00", time(8)), ("23:59", time(23, 59)), ("00:00", time(0))]
)
def test_parse_clock_time(text: str, parsed: time) -> None:
    assert parse_clock_time(text) == parsed


@pytest.mark.parametrize("text", ["8:00", "24:00", "08:60", "0800", "08:0a", "８:00"])
def test_parse_clock_time_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_clock_time(text)


ENTITIES, RULES, RECEIVERS = {"isis", "mosul"}, {"isis_mosul"}, {"ops", "chat"}


def test_load_digests_with_defaults() -> None:
    (digest,) = load_digests([{"id": "daily_iraq", "at": "08:00", "tz": "Asia/Baghdad", "entities": ["isis"]}],
                             ENTITIES, RULES, RECEIVERS)  # fmt: skip
    assert digest.schedule == BAGHDAD_8
    assert (digest.entities, digest.rules, digest.top, digest.send_empty, digest.receivers) == (
        frozenset({"isis"}), (), 5, False, ("chat", "ops"),
    )  # fmt: skip
    (every,) = load_digests(
        [{"id": "h", "every": "hourly", "entities": "*", "webhooks": ["ops"]}], ENTITIES, RULES, RECEIVERS
    )
    assert (every.entities, every.schedule.tz.key, every.receivers) == (None, "UTC", ("ops",))


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({"id": "d", "entities": ["iraq"]}, "unknown entity 'iraq'"),
        ({"id": "d", "rules": ["nope"]}, "unknown rule 'nope'"),
        ({"id": "d", "entities": "*", "webhooks": ["pager"]}, "unknown webhook receiver 'pager'"),
        ({"id": "d"}, 'say what the digest covers: entities (a list or "*") and/or rules'),
        ({"id": "d", "every": "hourly", "at": "08:00", "entities": "*"}, "at: only daily digests"),
        ({"id": "d", "at": "8am", "entities": "*"}, "at: Value error, '8am' is not a time written HH:MM"),
        (
            {"id": "d", "tz": "Baghdad", "entities": "*"},
            "tz: Value error, 'Baghdad' is not an IANA time zone name",
        ),
        ({"id": "d", "every": "weekly", "entities": "*"}, "every: Input should be 'hourly' or 'daily'"),
        ({"id": "d", "top": 0, "entities": "*"}, "top: Input should be greater than or equal to 1"),
        (
            {"id": "d", "send_empty": "always", "entities": "*"},
            "send_empty: Input should be a valid boolean, unable to interpret input",
        ),
        ({"id": "d", "entity": ["isis"]}, "unknown key 'entity'"),
    ],
)
def test_load_digests_rejects(item: dict[str, object], problem: str) -> None:
    with pytest.raises(DigestError) as caught:
        load_digests([item], ENTITIES, RULES, RECEIVERS)
    assert str(caught.value).startswith(f"digests[0] (id 'd'): {problem}")


def test_digest_ids_must_be_unique() -> None:
    with pytest.raises(DigestError, match=r"digests\[1\] \(id 'd'\): duplicate id \(also digests\[0\]\)"):
        load_digests(
            [{"id": "d", "entities": "*"}, {"id": "d", "rules": ["isis_mosul"]}], ENTITIES, RULES, RECEIVERS
        )
