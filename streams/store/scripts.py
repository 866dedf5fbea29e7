"""The Lua scripts in streams/store/lua/, read once from the package (each file heads with its KEYS/ARGV)."""

from __future__ import annotations

from importlib.resources import files


def read_lua(name: str) -> str:
    return files("streams.store").joinpath("lua", name).read_text(encoding="utf-8")


SPIKE_SECTION = read_lua("spike_section.lua")
# Story assignment (docs/stories.md): a section for the per-batch script, and a standalone wrapper.
STORY_SECTION = read_lua("stories.lua")
# The spike and story sections are functions that record.lua calls: one round trip per batch for all.
RECORD = SPIKE_SECTION + STORY_SECTION + read_lua("story_counts.lua") + read_lua("record.lua")
BUCKETS = read_lua("buckets.lua")
SPIKE_CAS = read_lua("spike_cas.lua")
STORIES_STANDALONE = STORY_SECTION + read_lua("stories_standalone.lua")
