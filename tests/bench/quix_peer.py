"""The peer: newsmon's tag-and-count job as a Quix Streams application (run by pipeline.py, own venv).

Run: quix-venv/bin/python tests/bench/quix_peer.py BOOTSTRAP IN_TOPIC OUT_TOPIC REDIS_URL PREFIX WATCHLIST
Build its virtualenv (once; `make bench` does it): .venv/bin/python tests/bench/quix_peer.py --ensure-venv DIR
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# quixstreams 3.28.1 requires pydantic<2.14 and pydantic-settings<2.16 while newsmon pins 2.14.3 /
# 2.16.3, so the peer has a virtualenv of its own, on the same CPython (it imports streams.matching
# and its C extension from this checkout).
PEER_REQUIREMENTS = (
    "quixstreams==3.28.1",
    "redis==8.1.0",
    "hiredis==3.5.0",
    "pyyaml==6.0.3",
    "orjson==3.13.0",
)
_STAMP = ".newsmon-requirements"


def ensure_venv(venv: Path) -> Path:
    """The peer's python, building ``venv`` with PEER_REQUIREMENTS when it is missing or stale."""
    python = venv / "bin" / "python"
    wanted = "\n".join(PEER_REQUIREMENTS) + "\n"
    stamp = venv / _STAMP
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    # The interpreter running this (newsmon's venv) is the same CPython the C extension was built for.
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True)
    stamp.write_text(wanted)
    return python


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
    import redis

    from streams.watchlist.file import load_watchlist

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
    if argv[:1] == ["--ensure-venv"] and len(argv) == 2:
        print(ensure_venv(Path(argv[1])))
        return
    if len(argv) != 6:
        sys.exit(__doc__)
    from quixstreams import Application

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
