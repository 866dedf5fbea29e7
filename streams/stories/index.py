"""In-memory story index: the Redis index's algorithm for one process (`streams.tag --stories`, tests)."""

from __future__ import annotations

from streams.stories.assign import MEMBERS_KEPT, Candidate, best_story
from streams.stories.sketch import DEFAULT_PARAMS, Sketch, SketchParams, sketch


class StoryIndex:
    """Assigns each article, in arrival order, the story of its first near-duplicate, or a new story
    whose id is the article's own id. No horizon: it holds the stories of one input."""

    def __init__(self, params: SketchParams = DEFAULT_PARAMS, members_kept: int = MEMBERS_KEPT) -> None:
        self.params = params
        self.members_kept = members_kept
        self._bands: dict[bytes, str] = {}
        self._members: dict[str, list[bytes]] = {}
        self._assigned: dict[str, str] = {}

    def assign(self, article_id: str, body: str) -> str:
        """The story of an article (the same one again for a repeated id)."""
        if article_id in self._assigned:
            return self._assigned[article_id]
        story = self.assign_sketch(article_id, sketch(body, self.params))
        self._assigned[article_id] = story
        return story

    def assign_sketch(self, article_id: str, sk: Sketch) -> str:
        """The story of a sketched article seen for the first time (no repeated-id check)."""
        if sk.signature is None:
            return article_id
        keys = sk.band_keys()
        found = dict.fromkeys(self._bands[k] for k in keys if k in self._bands)
        candidates = (Candidate(story, self._members[story]) for story in found)
        story = best_story(sk.signature, candidates, self.params) or article_id
        members = self._members.setdefault(story, [])
        if len(members) < self.members_kept:
            members.append(sk.signature)
            # A kept member's bands point to its story; the latest writer of a band keeps it (as in
            # Redis within one time bucket).
            for key in keys:
                self._bands[key] = story
        return story

    def __len__(self) -> int:
        """Stories indexed (short articles are stories of their own but are not indexed)."""
        return len(self._members)
