"""The pure part of the tag agent's batch: decode, tag and evaluate rules for every message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from streams.matching.normalize import internal_form
from streams.model.alert import Alert
from streams.model.article import Article
from streams.model.deadletter import Rejected, deadletter_record
from streams.model.decode import decode_article, event_time
from streams.model.minutes import minute_of
from streams.model.precision import counts_by_day
from streams.model.tagged import tagged_record
from streams.rules.per_story import story_alert
from streams.rules.rule import ArticleFacts, RuleSet
from streams.spikes.evidence import names_by_entity, spike_watched
from streams.store.counts import StoryRequest, Tally
from streams.stories.sketch import DEFAULT_PARAMS, Sketch, sketch_joined
from streams.stories.wire import StoryItem, story_items, story_spec
from streams.watchlist.compiled import CompiledWatchlist


class Message(Protocol):
    """What the step needs of a consumed Kafka message (faust's Message satisfies it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float


@dataclass(frozen=True, slots=True)
class TaggedArticle:
    """One article of a batch and everything it produces."""

    article: Article
    tally: Tally  # what it adds to the counts
    tagged: dict[str, Any]  # its news.tagged value
    timestamp: float  # its Kafka timestamp (latency is measured from it)
    sketch: Sketch  # its story sketch (docs/stories.md); Redis assigns the story
    rule_alerts: tuple[Alert, ...] = ()  # of rules with `per: article`
    # Of rules with `per: story`: this article's own alerts, which become its story's (Batch.story_alerts).
    story_rule_alerts: tuple[Alert, ...] = ()
    # The names matched for each spike-watched entity it mentions (spike evidence).
    watched_names: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass
class Batch:
    """Everything one batch produces, gathered before any I/O."""

    articles: list[TaggedArticle] = field(default_factory=list)
    dead: list[tuple[bytes | None, dict[str, Any]]] = field(default_factory=list)
    spike_alerts: list[Alert] = field(default_factory=list)  # already published by the spike step
    # Rule alerts per story, once the stories are known (assign_stories); `first` marks the ones
    # raised by this batch for the first time (the story's first copy matching the rule).
    story_alerts: list[tuple[Alert, bool]] = field(default_factory=list)

    @property
    def tallies(self) -> list[Tally]:
        return [tagged.tally for tagged in self.articles]

    def story_request(self, horizon_seconds: int, now: float) -> StoryRequest:
        """The story section's part of the counting call (store/lua/stories.lua), with the per-story
        rule hits (store/lua/story_counts.lua)."""
        items, blob = story_items([StoryItem(a.article.id, a.sketch) for a in self.articles])
        hits = [
            (index, alert.rule_id, alert.model_dump_json())
            for index, tagged in enumerate(self.articles, 1)
            for alert in tagged.story_rule_alerts
        ]
        spec = story_spec(DEFAULT_PARAMS, horizon_seconds, now)
        return StoryRequest(spec, items, blob, orjson.dumps(hits))

    def assign_stories(self, stories: list[str], rule_stories: Sequence[Mapping[str, bytes]] = ()) -> None:
        """Put each article's story (from Redis, in order) into its news.tagged value, and make the
        rule alerts per story from the hashes Redis returned for the per-story hits, in order."""
        for tagged, story in zip(self.articles, stories, strict=True):
            tagged.tagged["story"] = story
        hits = [(a, alert) for a in self.articles for alert in a.story_rule_alerts]
        for (tagged, own), state in zip(hits, rule_stories or [{}] * len(hits), strict=True):
            self.story_alerts.append(alert_of_story(tagged, own, state))


def tag_batch(
    compiled: CompiledWatchlist, messages: Sequence[Message], max_bytes: int, now: datetime
) -> Batch:
    """Decode, tag and evaluate rules for every message; bad inputs become dead-letter records."""
    batch = Batch()
    for message in messages:
        result = decode_article(message.value, max_bytes)
        if isinstance(result, Rejected):
            record = deadletter_record(
                result.describe(), topic=message.topic, partition=message.partition, offset=message.offset,
                received_at=now, payload=message.value,
            )  # fmt: skip
            batch.dead.append((message.key, record))
            continue
        at, by_day = event_time(result, now), counts_by_day(result, now)
        batch.articles.append(tag_article(compiled, result, at, message, by_day=by_day))
    return batch


def tag_article(
    compiled: CompiledWatchlist, article: Article, at: datetime, message: Message, *, by_day: bool = False
) -> TaggedArticle:
    """Mentions, rule alerts and spike evidence of one article; `by_day`: its event time is a date only
    (streams.model.precision), so it is counted by day and kept out of the spike detectors' evidence."""
    rules = compiled.rules
    facts = article_facts(article, rules)
    if rules.needs_positions:
        matches, joined = compiled.matcher.find_and_form(article.title, article.body)
        mentions: dict[str, int] = {}
        for match in matches:
            mentions[match.entity] = mentions.get(match.entity, 0) + 1
        hits = rules.hits_for_matches(matches, facts)
    else:
        mentions, joined = compiled.matcher.mentions_and_form(article.title, article.body)
        hits = rules.hits_mentioned(mentions.keys(), facts)
    watched = [] if by_day else spike_watched(compiled.spikes, mentions)
    if not rules.needs_positions:
        # Rule and spike evidence name the matched names: one more scan, only when there is evidence.
        matches = compiled.matcher.find(article.title, article.body) if hits or watched else []
    alerts = [
        (rule.per, rule.alert(article, sorted({m.name for m in matches if m.entity in rule.entities}), at))
        for rule in hits
    ]
    return TaggedArticle(
        article=article,
        tally=Tally(article.id, minute_of(at), article.source, mentions, message.partition, by_day),
        tagged=tagged_record(article, at, mentions, [r.id for r in hits], by_day=by_day),
        timestamp=message.timestamp,
        sketch=sketch_joined(joined),
        rule_alerts=tuple(alert for per, alert in alerts if per == "article"),
        story_rule_alerts=tuple(alert for per, alert in alerts if per == "story"),
        watched_names=names_by_entity(matches, watched) if watched else {},
    )


def article_facts(article: Article, rules: RuleSet) -> ArticleFacts:
    """What the rule filters read; the title's token count only when a rule has ``in: title``."""
    title_tokens = len(internal_form(article.title).split()) if rules.scopes_title else 0
    return ArticleFacts(article.lang, article.source, title_tokens)


def alert_of_story(tagged: TaggedArticle, own: Alert, state: Mapping[str, bytes]) -> tuple[Alert, bool]:
    """The story's alert for a per-story rule hit, and whether this hit raised it: `state` holds the
    alert of the story's first copy matching the rule ("\tfirst") and copies per source; without it
    (expired, or no story section) the article's own alert stands for its story."""
    story = tagged.tagged["story"]
    first_json = state.get(FIRST)
    first = own if first_json is None else Alert.from_json(first_json)
    copies = {source: int(n) for source, n in state.items() if source != FIRST}
    return story_alert(first, story, copies or {tagged.tally.source or "-": 1}), first.id == own.id


FIRST = "\tfirst"  # the field of p rs:<rule>:<story> holding the first copy's alert
