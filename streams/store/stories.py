"""Story assignment in Redis, standalone: one EVALSHA per batch (the worker will run the same section,
store/lua/stories.lua, inside its counting script instead). Arguments come from streams.stories.wire."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from streams.store.scripts import STORIES_STANDALONE

DAY = 86400


class StoryScript:
    """Runs the story section on its own: sets the seen markers, then assigns the batch's stories."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "nm:",
        seen_ttl: int = 7 * DAY,
        script: str = STORIES_STANDALONE,
    ) -> None:
        self.prefix = prefix
        self.seen_ttl = seen_ttl
        self._script = client.register_script(script)

    async def assign(self, spec: bytes, items: bytes, blob: bytes) -> list[str]:
        """The story id of every article of the batch (`items`, `blob` and `spec` from
        streams.stories.wire), in order."""
        args: list[Any] = [self.prefix, self.seen_ttl, spec, items, blob]
        return [s.decode() if isinstance(s, bytes) else s for s in await self._script(args=args)]
