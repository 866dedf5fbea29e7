"""The peer: newsmon's tag-and-count job as a Quix Streams application (run by pipeline.py, own venv).

Run: quix-venv/bin/python tests/bench/quix_peer.py BOOTSTRAP IN_TOPIC OUT_TOPIC REDIS_URL PREFIX WATCHLIST
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis
from quixstreams import Application

from streams.watchlist.file import load_watchlist

COUNT_LUA = """
local p, id, minute, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
redis.call('INCR', p .. 'articles')
if not redis.call('SET', p .. 'seen:' .. id, '1', 'NX', 'EX', 604800) then return 0 end
for i = 5, #ARGV, 2 do redis.call('HINCRBY', p .. 'm:' .. minute, ARGV[i], ARGV[i + 1]) end
if #ARGV > 4 then redis.call('EXPIRE', p .. 'm:' .. minute, ttl) end
return 1
"""


def minute_of(stamp: str | None) -> int:
    try:
        moment = datetime.fromisoformat(stamp) if stamp else datetime.now(UTC)
    except ValueError:
        moment = datetime.now(UTC)
    return int(moment.timestamp()) // 60


def make_tagger(redis_url: str, prefix: str, watchlist: str) -> Any:
    matcher = load_watchlist(watchlist).matcher()
    script = redis.Redis.from_url(redis_url).register_script(COUNT_LUA)

    def tag(article: dict[str, Any]) -> dict[str, Any]:
        mentions = matcher.mentions(article.get("title") or "", article.get("body") or "")
        minute = minute_of(article.get("published_at"))
        args: list[Any] = [prefix, article["id"], minute, 2 * 86400]
        for entity, count in mentions.items():
            args += [entity, count]
        script(args=args)
        return {
            "id": article["id"], "source": article.get("source"), "lang": article.get("lang"),
            "event_time": minute * 60, "mentions": mentions, "rules": [],
        }  # fmt: skip

    return tag


def main(argv: list[str]) -> None:
    bootstrap, in_topic, out_topic, redis_url, prefix, watchlist = argv
    state_dir = tempfile.mkdtemp(prefix="quix-peer-state-")
    app = Application(
        broker_address=bootstrap,
        consumer_group=f"quix-peer-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        loglevel="WARNING",
        use_changelog_topics=False,
        state_dir=state_dir,
    )
    source = app.topic(in_topic, value_deserializer="json", key_deserializer="bytes")
    sink = app.topic(out_topic, value_serializer="json", key_serializer="bytes")
    frame = app.dataframe(source).apply(make_tagger(redis_url, prefix, watchlist))
    frame.to_topic(sink)
    try:
        app.run()  # until SIGTERM from pipeline.py
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
