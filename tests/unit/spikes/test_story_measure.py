"""`measure: stories | mentions`: the spec's default, the section spec, and the reply a story-measured
detector reads (stories per minute, the sources of the stories' first copies)."""

from __future__ import annotations

import orjson
import pytest

from streams.model.minutes import to_seconds
from streams.spikes.plan import Candidate, History, section_spec
from streams.spikes.spec import SpikeError, SpikeSpec, compile_spike, load_spikes

ENTITIES = {"carter"}


def test_measure_defaults_to_mentions_and_takes_stories() -> None:
    by_default = compile_spike(SpikeSpec(id="a", entities="*"), ENTITIES, set())
    by_stories = compile_spike(SpikeSpec(id="b", entities="*", measure="stories"), ENTITIES, set())
    assert (by_default.measures, by_stories.measures) == ("mentions", "stories")


def test_an_unknown_measure_is_refused_with_the_entry_named() -> None:
    with pytest.raises(SpikeError, match=r"spikes\[0\] \(id 'a'\).*measure.*'stories' or 'mentions'"):
        load_spikes([{"id": "a", "entities": "*", "measure": "articles"}], ENTITIES, set())


def test_the_section_spec_says_which_detectors_read_stories() -> None:
    detectors = load_spikes(
        [{"id": "a", "entities": "*"}, {"id": "b", "entities": ["carter"], "measure": "stories"}],
        ENTITIES,
        set(),
    )
    spec = orjson.loads(section_spec(detectors, [], evidence_ttl=60))
    assert [(d["id"], d["stories"]) for d in spec["detectors"]] == [("a", False), ("b", True)]


def test_a_story_detector_reads_the_story_counts_and_sources_of_the_reply() -> None:
    mentions, stories = load_spikes(
        [{"id": "a", "entities": "*"}, {"id": "b", "entities": "*", "measure": "stories"}], ENTITIES, set()
    )
    reply = {
        "entities": ["carter"], "first": 100, "source_from": 100, "started": [6000, 6000],
        "counts": [["42"], [False]], "sources": [["carter\ts1", "carter\ts2"], []],
        "story_counts": [["1"], [False]], "story_sources": [["carter\ts1"], []],
        "states": [["a", "carter", {}], ["b", "carter", {}]],
    }  # fmt: skip
    todo = [Candidate(mentions, "carter"), Candidate(stories, "carter")]
    history = History.parse([mentions, stories], reply, todo)
    assert history.counts_for(mentions, "carter") == {to_seconds(100): 42}
    assert history.counts_for(stories, "carter") == {to_seconds(100): 1}
    assert history.sources_for(mentions, "carter") == {100: {"s1", "s2"}}
    assert history.sources_for(stories, "carter") == {100: {"s1"}}
