"""Story assignment in Redis, standalone: one EVALSHA per batch (the worker will run the same section,
store/lua/stories.lua, inside its counting script instead)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from streams.store.scripts import STORIES_STANDALONE
from streams.stories.sketch import DEFAULT_PARAMS, SketchParams
from streams.stories.wire import DAY, DEFAULT_HORIZON_SECONDS, StoryItem, story_items, story_spec


class RedisStories:
    """Assigns a batch's stories in one round trip."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "nm:",
        params: SketchParams = DEFAULT_PARAMS,
        horizon_seconds: int = DEFAULT_HORIZON_SECONDS,
        seen_ttl: int = 7 * DAY,
        script: str = STORIES_STANDALONE,
    ) -> None:
        self.prefix = prefix
        self.seen_ttl = seen_ttl
        self.params = params
        self.horizon_seconds = horizon_seconds
        self._script = client.register_script(script)

    async def assign(self, batch: Sequence[StoryItem], now: float | None = None) -> list[str]:
        """The story id of every article in the batch, in order."""
        items, blob = story_items(batch)
        spec = story_spec(self.params, self.horizon_seconds, time.time() if now is None else now)
        args: list[Any] = [self.prefix, self.seen_ttl, spec, items, blob]
        return [s.decode() if isinstance(s, bytes) else s for s in await self._script(args=args)]
