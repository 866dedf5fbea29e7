"""A replaced compiled watchlist freed beside the event loop, a slice at a time, once nothing uses it."""

from __future__ import annotations

import sys
import time

from streams.watchlist.compiled import CompiledWatchlist

_STEP = 10_000  # objects freed per slice: a few ms of GIL each
_POLL_SECONDS = 0.05
_WAIT_SECONDS = 600.0  # a batch holding the old watchlist this long has bigger problems


def retire(box: list[CompiledWatchlist]) -> None:
    """Free the compiled watchlist in ``box`` (its only reference: the caller keeps none).

    A batch that started before the swap may still use it: wait until this function holds the last
    reference, then take the big tables apart in slices. Each slice is a short C-level cascade, so the
    event loop thread gets the GIL back between slices.
    """
    compiled = box.pop()
    deadline = time.monotonic() + _WAIT_SECONDS
    # getrefcount: this frame's variable and the call's own argument.
    while sys.getrefcount(compiled) > 2 and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    if sys.getrefcount(compiled) > 2:
        return  # still in use: let reference counting free it whenever that ends
    entities = list(compiled.watchlist.entities)
    compiled.matcher.dismantle(_STEP)
    del compiled  # the entities tuple goes with it; its entities survive in the list below
    while entities:
        del entities[-_STEP:]
