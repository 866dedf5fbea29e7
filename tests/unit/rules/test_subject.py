"""A rule's subject: the entity its Alertmanager alerts are labelled, grouped and inhibited by."""

from __future__ import annotations

from streams.rules.parse import parse_expr
from streams.rules.subject import rule_subject


def test_rule_subject_is_the_first_entity_outside_a_not() -> None:
    assert rule_subject(parse_expr("isis NEAR/8 mosul AND NOT baghdad")) == "isis"
    assert rule_subject(parse_expr("NOT baghdad AND mosul")) == "mosul"
    assert rule_subject(parse_expr("(raqqa OR isis) AND mosul")) == "raqqa"
    assert rule_subject(parse_expr("mosul NEAR/3 isis")) == "mosul"
