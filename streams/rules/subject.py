"""The entity a rule is about: the label Alertmanager groups and inhibits its alerts by."""

from __future__ import annotations

from streams.rules.expr import And, Expr, Near, Not, Or, Ref


def rule_subject(expr: Expr) -> str | None:
    """The entity a rule alert is about: the first entity written outside a NOT.

    Inhibition matches on ``entity``, so a rule alert needs one; ``isis NEAR/8 mosul`` is about isis.
    """
    match expr:
        case Ref(entity=entity):
            return entity
        case Not():
            return None
        case And(operands=operands) | Or(operands=operands):
            return next((s for s in map(rule_subject, operands) if s is not None), None)
        case Near(left=left):
            return left.entity
