"""The Alert message on news.alerts, its evidence and its deterministic ids."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from streams.model.article import Article

Severity = Literal["info", "warning", "critical"]
Kind = Literal["rule", "spike", "digest"]
Status = Literal["firing", "resolved"]


class Evidence(BaseModel):
    """One article that supports an alert; for a rule alert per story (docs/stories.md), the story's
    first article matching the rule, with the story id, its copies matching the rule and their sources."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    article_id: str
    title: str
    url: str
    source: str
    published_at: str | None
    matched_names: list[str]
    story: str | None = None
    copies: int | None = None
    copy_sources: list[str] | None = None

    @model_serializer(mode="wrap")
    def _without_empty_story(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Evidence without a story serializes as before stories existed, so a worker of the previous
        # version (extra="forbid") still reads it during a rolling upgrade.
        data: dict[str, Any] = handler(self)
        for key in ("story", "copies", "copy_sources"):
            if data.get(key) is None:
                data.pop(key, None)
        return data

    @classmethod
    def from_article(cls, article: Article, matched_names: Sequence[str]) -> Evidence:
        return cls(
            article_id=article.id,
            title=article.title,
            url=article.url,
            source=article.source,
            published_at=article.published_at,
            matched_names=list(matched_names),
        )


class DigestStory(BaseModel):
    """One story of a digest line (streams/stories: copies of one text across sources)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    story: str  # the story id on news.tagged
    articles: int  # its articles in the period that name the line's subject
    sources: dict[str, int]  # source → articles, most first
    evidence: Evidence  # the first of them the worker saw


class DigestEntry(BaseModel):
    """One line of a digest: an entity (or ``rule:<id>``) and what the period said about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str
    mentions: int
    articles: int
    sources: dict[str, int]  # source → articles, most first
    stories: list[DigestStory] = []  # the top stories, most articles first
    evidence: list[Evidence]  # one article per top story, in the same order


class DigestContent(BaseModel):
    """What a digest alert carries: its period and its top subjects (empty: "nothing new")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: str  # as people say it, in the digest's zone: "2016-10-22 Asia/Baghdad"
    entries: list[DigestEntry]


class Alert(BaseModel):
    """The value on ``news.alerts`` (key: ``id``); delivery turns it into one webhook per receiver.

    Rule alerts are events (one per story and rule, or per matching article with ``per: article``)
    and are only ever ``firing``; spike alerts
    fire once and later resolve, the pair sharing ``starts_at`` and the firing window. A digest is
    an event too: ``id`` is its digest id, ``rule_id`` the digest's id, ``starts_at``/``ends_at``
    its period, ``digest`` its content.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: Kind
    status: Status
    rule_id: str
    entity: str | None = None
    severity: Severity
    description: str = ""
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    count: int | None = None
    baseline: float | None = None
    ratio: float | None = None
    window: str | None = None
    evidence: list[Evidence] = []
    receivers: list[str] = []
    digest: DigestContent | None = None  # kind "digest" only

    @model_serializer(mode="wrap")
    def _without_empty_digest(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Rule and spike alerts serialize as before the digest field existed, so a worker of the
        # previous version (extra="forbid") still reads them during a rolling upgrade.
        data: dict[str, Any] = handler(self)
        if data.get("digest") is None:
            data.pop("digest", None)
        return data

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Alert:
        return cls.model_validate_json(data)


def _digest(*parts: str) -> str:
    # A unit separator cannot occur in ids, so ("a", "bc") and ("ab", "c") never collide.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def rule_alert_id(rule_id: str, article_id: str) -> str:
    """Same rule and article → same id, so a redelivered article never yields a second alert."""
    return _digest("rule", rule_id, article_id)


def spike_alert_id(spike_id: str, entity: str, window_start: int, status: Status) -> str:
    """Same spike, entity, firing window (unix seconds) and status → same id."""
    return _digest("spike", spike_id, entity, str(window_start), status)
