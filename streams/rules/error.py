"""The error of a bad ``rules`` entry, shared by the rule and its filters."""

from __future__ import annotations

from streams.model.spec import SpecError


class RuleError(SpecError):
    """A bad entry in the ``rules`` section."""
