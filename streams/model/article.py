"""The Article message (docs/contract.md "Article JSON"), shared by producers and the tag agent."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator


class Article(BaseModel):
    """One news article as carried on ``news.articles``.

    Times are ISO-8601 strings with an offset; they are kept as text so that a producer never
    rewrites what the source said, and parsed where they are used (see ``parse_time``).
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    id: str
    url: str = ""
    title: str = ""
    body: str = ""
    lang: str = ""
    source: str = ""
    published_at: str | None = None
    fetched_at: str | None = None
    # How precisely the source stated published_at; None = not said (treated as exact). "day": the
    # source gave a date only, so the time of day in published_at is not real (docs/producers.md).
    published_precision: Literal["day", "minute", "second"] | None = None

    @model_validator(mode="after")
    def _title_or_body(self) -> Article:
        if not self.title.strip() and not self.body.strip():
            raise ValueError("title and body are both empty")
        if not self.id.strip():
            raise ValueError("id is empty")
        return self


def parse_time(value: str | None) -> datetime | None:
    """An ISO-8601 time with an offset, or None when missing, unparseable or without offset."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
