"""The story section's arguments (pure): its spec, and a batch's items and signature blob."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from streams.stories.assign import MEMBERS_KEPT
from streams.stories.sketch import Sketch, SketchParams

DAY = 86400
DEFAULT_HORIZON_SECONDS = 3 * DAY


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
    """(items JSON, blob): ids with a has-signature flag, and the signatures and band keys in order."""
    items = [(item.article_id, 0 if item.sketch.signature is None else 1) for item in batch]
    blob = b"".join(item.sketch.signature + item.sketch.bands for item in batch if item.sketch.signature)
    return orjson.dumps(items), blob
