"""The counting script's wire format, without Redis."""

from __future__ import annotations

from streams.counting import Tally, record_args


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
    assert args == ["p:", 10, 20, "1,5", 1000.5, 10.0, 8, 2, 0, 5, 1, "x", 7, "-", 3, 1, "isis", 2]
