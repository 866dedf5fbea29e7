"""The counting script's wire format, without Redis."""

from __future__ import annotations

from streams.store.counts import StoryRequest, Tally, record_args


def test_record_args_wire_format() -> None:
    args = record_args(
        "p:",
        10,
        20,
        (1, 5),
        (1000.5, 10.0, 8),
        [Tally("x", 7, "", {"isis": 2}, partition=3)],
        caught_up=(0, 5),
    )
    assert args == ["p:", 10, 20, "1,5", 1000.5, 10.0, 8, 2, 0, 5, b'[["x",7,"-",3,{"isis":2}]]']


def test_record_args_carry_the_spike_section_last() -> None:
    tallies = [Tally("x", 7, "s", {}), Tally("y", 8, "t", {"isis": 1, "iraq": 3}, partition=1)]
    args = record_args("p:", 10, 20, (1,), (5.0, 10.0, 2), tallies, spikes=b"{}")
    assert args == [
        "p:",
        10,
        20,
        "1",
        5.0,
        10.0,
        2,
        0,
        b'[["x",7,"s",0,{}],["y",8,"t",1,{"isis":1,"iraq":3}]]',
        b"{}",
    ]


def test_record_args_carry_the_story_section_after_the_spike_spec_or_its_empty_placeholder() -> None:
    tallies = [Tally("x", 7, "s", {})]
    story = StoryRequest(b'{"now":1}', b'[["x",0]]', b"")
    head = ["p:", 10, 20, "1", 5.0, 10.0, 2, 0, b'[["x",7,"s",0,{}]]']
    without_spikes = record_args("p:", 10, 20, (1,), (5.0, 10.0, 2), tallies, stories=story)
    with_spikes = record_args("p:", 10, 20, (1,), (5.0, 10.0, 2), tallies, spikes=b"{}", stories=story)
    assert without_spikes == [*head, b"", b'{"now":1}', b'[["x",0]]', b"", b"[]"]
    assert with_spikes == [*head, b"{}", b'{"now":1}', b'[["x",0]]', b"", b"[]"]
