"""Rule alerts per story (pure): the story's alert from its first copy's alert and the copies so far."""

from __future__ import annotations

from collections.abc import Mapping

from streams.model.alert import Alert, rule_alert_id


def story_alert(first: Alert, story: str, copies_by_source: Mapping[str, int]) -> Alert:
    """The one alert of a rule and a story: its id from the story (so every copy, on any worker, gives
    the same id and the deliver agent sends it once), the evidence of the story's first copy that
    matched the rule, with the copies matched so far and their sources."""
    evidence = [
        item.model_copy(
            update={
                "story": story,
                "copies": sum(copies_by_source.values()),
                "copy_sources": sorted(copies_by_source),
            }
        )
        for item in first.evidence
    ]
    return first.model_copy(update={"id": rule_alert_id(first.rule_id, story), "evidence": evidence})
