#!/usr/bin/env bash
# `make run`: the whole pipeline live on the bundled sample articles, on the `run` port profile.
# Every process is tracked by PID by ops/local/stack.py; `make stop` stops them all.
set -euo pipefail
cd "$(dirname "$0")/../.."
STACK=(python3 ops/local/stack.py --profile run)
BIN=.venv/bin
eval "$("${STACK[@]}" env)"

"${STACK[@]}" up
# The demo watchlist: ops/watchlist.yaml plus a rule and a spike detector that the sample's planted
# raqqa burst (2026-11-21 12:00-12:10 UTC) sets off; alerts show in `streams.top` and on news.alerts.
export NEWSMON_WATCHLIST=.run/run/watchlist.yaml
$BIN/python - <<'PY'
import yaml
data = yaml.safe_load(open("ops/watchlist.yaml", encoding="utf-8"))
data["rules"] = [{"id": "carter_raqqa", "expr": "carter AND raqqa", "webhooks": [],
                  "description": "Carter and Raqqa in one article"}]
# Measured in stories (docs/stories.md): 16 distinct stories in the window at 12:02 (37 mentions).
data["spikes"] = [{"id": "raqqa_burst", "entities": ["raqqa"], "measure": "stories", "window": "10m",
                   "baseline": "1h", "min_count": 15, "ratio": 4, "min_sources": 3, "warmup": "1h",
                   "cooldown": "3h", "webhooks": []}]
with open(".run/run/watchlist.yaml", "w", encoding="utf-8") as out:
    yaml.safe_dump(data, out, allow_unicode=True, sort_keys=False)
PY
$BIN/python -m streams.topics
"${STACK[@]}" start worker -- $BIN/faust -A streams.app worker -l info --web-port "$NEWSMON_WORKER_WEB_PORT"
"${STACK[@]}" start exporter -- $BIN/python -m streams.exporter

echo "[run] publishing the seed article and replaying the synthetic sample (ops/sample/articles.jsonl)"
$BIN/python -m producers files ops/sample/seed --source seed --metrics-port 0
"${STACK[@]}" start replay -- $BIN/python -m producers replay ops/sample/articles.jsonl --rate 200 \
  --no-progress --metrics-port "$NEWSMON_PRODUCER_METRICS_PORT"

cat <<TXT

newsmon is running (profile "run"; logs in .run/run/logs/):
  worker metrics     http://127.0.0.1:$NEWSMON_WORKER_WEB_PORT/metrics
  exporter metrics   http://127.0.0.1:$NEWSMON_EXPORTER_PORT/metrics   (rolling windows per entity, read from Redis)
  producer metrics   http://127.0.0.1:$NEWSMON_PRODUCER_METRICS_PORT/metrics   (while the replay runs)
  Prometheus         $NEWSMON_PROMETHEUS_URL/graph?g0.expr=sum%20by%20(entity)(rate(newsmon_entity_mentions_total%5B1m%5D))
  Kafka              $NEWSMON_KAFKA_BOOTSTRAP  topics news.articles news.tagged news.alerts news.deadletter
  Redis              $NEWSMON_REDIS_URL  (HGETALL nm:w:60 = mentions per entity in the last hour of stream time)
  Watchlist          $NEWSMON_WATCHLIST (ops/watchlist.yaml + a demo rule and spike detector;
                     the sample's planted raqqa burst raises a spike alert about 25 s into the replay)

Live view:             $BIN/python -m streams.top
Tag articles offline:  $BIN/python -m producers files ops/sample/seed --stdout | $BIN/python -m streams.tag --watchlist ops/watchlist.yaml
Stop everything:       make stop
TXT
