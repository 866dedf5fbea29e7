"""The Redis key schema: every key newsmon reads or writes, under one prefix (NEWSMON_REDIS_PREFIX).

Minutes are UTC minutes since the epoch (event time), see streams.model.minutes. The Lua scripts in
streams/store/lua/ derive the same keys from the prefix (ARGV[1]) inside Redis, so one call touches
keys it was not given: newsmon needs a single Redis (or a replica set), not a cluster.

  <p>seen:<article id>         the worker counted this article (not twice on redelivery); its story id
  <p>published:<article id>    a producer published this article (producers' dedupe claim)
  <p>m:<minute>                hash entity -> mentions in that minute (expires)
  <p>ms:<minute>               hash "entity\\tsource" -> mentions in that minute (expires)
  <p>dm:<minute>, <p>dms:<minute>  the same for day-precision articles, at their midnight's minute;
                               only windows of a day or longer hold them (streams.model.precision)
  <p>w:<W>                     hash entity -> mentions in the sliding window of W minutes
  <p>wsrc:<W>                  hash "entity\\tsource" -> mentions in window W
  <p>wd:<W>                    hash entity -> distinct sources in window W
  <p>mst:<minute>              hash entity -> stories first mentioning it in that minute (expires)
  <p>dmst:<minute>             the same for day-precision articles, at their midnight's minute
  <p>mss:<minute>              hash "entity\\tsource" -> those stories by their first copy's source
  <p>wst:<W>                   hash entity -> distinct stories in window W
  <p>sen:<story id>            set of the entities a story was counted for (expires with the story)
  <p>rs:<rule>:<story id>      hash: a per-story rule alert's first copy ("\\tfirst") and copies per source
  <p>sb:<bucket>               hash: story band key -> story handle, one per time bucket (docs/stories.md)
  <p>ss:<handle>               list: a story's id, last bucket, kept members' signatures (expires)
  <p>story:next                the last story handle given out
  <p>parts / <p>active         newest event minute / last wall-clock activity per Kafka partition
  <p>caughtup                  when each partition's owner last reported it read to the end
  <p>clock                     the stream clock (a watermark, see streams.store.counts)
  <p>spike:<detector>:<entity> hash: a spike detector's state for one entity, with a version
  <p>spike:<detector>:started  when the detector was first evaluated (unix seconds)
  <p>spike:firing              set of "detector\\tentity" pairs currently firing
  <p>ev:<entity>               list: recent evidence of spike-watched entities (newest first)
  <p>delivered:<webhook-id>    a webhook delivery succeeded (redeliveries are not sent twice)
  <p>replicated               a counter written before each WAIT, whose offset covers a batch's writes
  <p>amresend:<receiver>       hash label fingerprint -> a firing spike posted to an alertmanager_api
                               receiver and when (wall clock): what to re-send until it resolves
  <p>dg:<digest>:<start>:m|a|s  hashes subject -> mentions | articles, "subject\tsource" -> articles,
                               in the digest period starting at <start> (unix s; subject: entity or rule:<id>)
  <p>dg:<digest>:<start>:e:<subject>  list: the period's newest evidence for the subject
  <p>dg:<digest>:clock         the stream clock (unix s) the digest last saw
  <p>digest:<digest id>        the period's digest went out on news.alerts (published once)
  <p>amresend:<receiver>:turn  a worker's turn to re-send (SET NX with a TTL: one worker per interval)
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "nm:"


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The keys under one prefix; the only place in Python that spells a key."""

    prefix: str = DEFAULT_PREFIX

    def seen(self, article_id: str) -> str:
        return f"{self.prefix}seen:{article_id}"

    def published(self, article_id: str) -> str:
        return f"{self.prefix}published:{article_id}"

    def minute(self, minute: int) -> str:
        return f"{self.prefix}m:{minute}"

    def minute_sources(self, minute: int) -> str:
        return f"{self.prefix}ms:{minute}"

    def day_minute(self, minute: int) -> str:
        return f"{self.prefix}dm:{minute}"

    def day_minute_sources(self, minute: int) -> str:
        return f"{self.prefix}dms:{minute}"

    def window(self, minutes: int) -> str:
        return f"{self.prefix}w:{minutes}"

    def window_sources(self, minutes: int) -> str:
        return f"{self.prefix}wsrc:{minutes}"

    def window_distinct(self, minutes: int) -> str:
        return f"{self.prefix}wd:{minutes}"

    def minute_stories(self, minute: int) -> str:
        return f"{self.prefix}mst:{minute}"

    def window_stories(self, minutes: int) -> str:
        return f"{self.prefix}wst:{minutes}"

    def story_entities(self, story_id: str) -> str:
        return f"{self.prefix}sen:{story_id}"

    @property
    def clock(self) -> str:
        return f"{self.prefix}clock"

    def spike_state(self, detector_id: str, entity: str) -> str:
        return f"{self.prefix}spike:{detector_id}:{entity}"

    def spike_started(self, detector_id: str) -> str:
        return f"{self.prefix}spike:{detector_id}:started"

    @property
    def spike_firing(self) -> str:
        return f"{self.prefix}spike:firing"

    def evidence(self, entity: str) -> str:
        return f"{self.prefix}ev:{entity}"

    def delivered(self, webhook_id: str) -> str:
        return f"{self.prefix}delivered:{webhook_id}"

    @property
    def replicated(self) -> str:
        return f"{self.prefix}replicated"

    def am_resend(self, receiver: str) -> str:
        return f"{self.prefix}amresend:{receiver}"

    def am_resend_turn(self, receiver: str) -> str:
        return f"{self.prefix}amresend:{receiver}:turn"

    def digest_tally(self, digest: str, period_start: int) -> str:
        return f"{self.prefix}dg:{digest}:{period_start}"

    def digest_clock(self, digest: str) -> str:
        return f"{self.prefix}dg:{digest}:clock"

    def digest_published(self, digest_id: str) -> str:
        return f"{self.prefix}digest:{digest_id}"
