"""Story assignment in Redis: the Lua section (lua/stories.lua), its arguments, and a standalone caller."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis

from streams.stories.assign import MEMBERS_KEPT
from streams.stories.sketch import DEFAULT_PARAMS, Sketch, SketchParams

DAY = 86400
DEFAULT_HORIZON_SECONDS = 3 * DAY

# The section, for inclusion in the worker's per-batch script (streams.store builds its counting script likewise).
STORY_SECTION_LUA = resources.files("streams.stories").joinpath("lua/stories.lua").read_text(encoding="utf-8")

# Standalone: set the seen markers the way the counting script does, then assign.
# ARGV: prefix, seen TTL, spec JSON, items JSON, blob.
_STANDALONE_LUA = (
    STORY_SECTION_LUA
    + """
local p, seen_ttl = ARGV[1], tonumber(ARGV[2])
local spec, items = cjson.decode(ARGV[3]), cjson.decode(ARGV[4])
local fresh = {}
for a, item in ipairs(items) do
  fresh[a] = redis.call('SET', p .. 'seen:' .. item[1], '1', 'NX', 'EX', seen_ttl) and 1 or 0
end
return story_section(p, spec, items, ARGV[5], fresh)
"""
)


@dataclass(frozen=True, slots=True)
class StoryItem:
    """One article of a batch: its id and sketch."""

    article_id: str
    sketch: Sketch


def story_spec(
    params: SketchParams, horizon_seconds: int, now: float, members_kept: int = MEMBERS_KEPT
) -> bytes:
    """The section's spec argument (JSON); `now` (unix seconds) places the batch in its time bucket."""
    spec = {
        "now": int(now),
        "horizon": horizon_seconds,
        "kept": members_kept,
        "needed": params.agreeing_needed,
        "slots": params.slots,
        "bands": params.bands,
    }
    return orjson.dumps(spec)


def story_items(batch: Sequence[StoryItem]) -> tuple[bytes, bytes]:
    """(items JSON, blob): ids with a has-signature flag, and the signatures and band hashes in order."""
    items = [(item.article_id, 0 if item.sketch.signature is None else 1) for item in batch]
    blob = b"".join(item.sketch.signature + item.sketch.bands for item in batch if item.sketch.signature)
    return orjson.dumps(items), blob


class RedisStories:
    """Assigns a batch's stories in one round trip (standalone; the worker will run the section inside
    its counting script instead)."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "nm:",
        params: SketchParams = DEFAULT_PARAMS,
        horizon_seconds: int = DEFAULT_HORIZON_SECONDS,
        seen_ttl: int = 7 * DAY,
    ) -> None:
        self.prefix = prefix
        self.seen_ttl = seen_ttl
        self.params = params
        self.horizon_seconds = horizon_seconds
        self._script = client.register_script(_STANDALONE_LUA)

    async def assign(self, batch: Sequence[StoryItem], now: float | None = None) -> list[str]:
        """The story id of every article in the batch, in order."""
        items, blob = story_items(batch)
        spec = story_spec(self.params, self.horizon_seconds, time.time() if now is None else now)
        args: list[Any] = [self.prefix, self.seen_ttl, spec, items, blob]
        return [s.decode() if isinstance(s, bytes) else s for s in await self._script(args=args)]
