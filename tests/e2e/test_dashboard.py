"""The Grafana dashboard against real data: every panel's PromQL parses and has data after a replay."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import ROOT, Pipeline, free_port, lines_of, sample_articles
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e
GRAFANA = ROOT / "ops" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "newsmon.json"
DATASOURCE_UID = "newsmon-prometheus"
START, END = datetime(2026, 11, 21, 11, 0, tzinfo=UTC), datetime(2026, 11, 21, 12, 30, tzinfo=UTC)


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def query_panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's variable expansion for $name and ${name}, longest names first."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def test_provisioning_points_every_panel_at_the_provisioned_datasource() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "newsmon.yml").read_text())
    assert [s["uid"] for s in sources["datasources"]] == [DATASOURCE_UID]
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "newsmon.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    panels = query_panels()
    assert len(panels) == 18
    for panel in panels:
        assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"]["uid"] == DATASOURCE_UID for t in panel["targets"]), panel["title"]
    variables = dashboard()["templating"]["list"]
    assert [v["name"] for v in variables] == ["instance", "entity", "window"]
    assert all(v["datasource"]["uid"] == DATASOURCE_UID for v in variables if v["type"] == "query")
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def result_of(prometheus: str, target: dict[str, Any], expr: str, since: float) -> list[Any]:
    if target.get("instant"):
        url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    else:
        params = {"query": expr, "start": f"{since:.0f}", "end": f"{time.time():.0f}", "step": "2"}
        url = f"{prometheus}/api/v1/query_range?" + urllib.parse.urlencode(params)
    reply = get_json(url)
    assert reply["status"] == "success", reply
    return list(reply["data"]["result"])


class Exporter:
    """streams.exporter as a subprocess on a free port, registered as a file_sd target."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.port = free_port()
        self.target = pipeline.stack_dir / "targets" / f"e2e-{pipeline.tag}-exporter.json"
        cmd = [sys.executable, "-m", "streams.exporter", "--port", str(self.port)]
        self.log = pipeline.workdir / "exporter.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                cmd, env=pipeline.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        register(self.target, self.port, pipeline.tag)

    def stop(self) -> None:
        self.target.unlink(missing_ok=True)
        self.proc.terminate()
        self.proc.wait(10)


def register(target: Path, port: int, tag: str) -> None:
    target.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"e2e": tag}}]))


def test_every_panel_query_parses_and_has_data_after_a_replay(
    pipeline: Pipeline, receiver: Receiver, prometheus_url: str, promtool: str
) -> None:
    began = time.time()
    articles = [a for a in sample_articles() if START <= datetime.fromisoformat(a["published_at"]) < END]
    exporter = Exporter(pipeline)
    producer_port = free_port()
    producer_target = pipeline.stack_dir / "targets" / f"e2e-{pipeline.tag}-producer.json"
    register(
        producer_target, producer_port, pipeline.tag
    )  # before it starts: Prometheus holds new targets ~5 s
    try:
        pipeline.start_worker()
        # 90 minutes of news at 600x: ~9 s, long enough for Prometheus to scrape the producer too.
        pipeline.produce("replay", "-", "--speedup", "600", "--no-progress", "--metrics-port",
                         str(producer_port), stdin=lines_of(articles))  # fmt: skip
        pipeline.wait(lambda: len(receiver.by_kind("spike")) >= 1, 60, "the raqqa spike alert delivered")
        _, worker_port, _ = pipeline.workers["w1"]
        ports = "|".join(str(p) for p in (worker_port, exporter.port, producer_port))
        values = {"instance": f"127.0.0.1:({ports})", "entity": "raqqa|carter", "window": "1h",
                  "__rate_interval": "10s", "__range": f"{int(time.time() - began) + 60}s"}  # fmt: skip
        check_every_panel(prometheus_url, promtool, values, began)
        check_variables(prometheus_url, pipeline.tag)
    finally:
        producer_target.unlink(missing_ok=True)
        exporter.stop()


def check_every_panel(prometheus: str, promtool: str, values: dict[str, str], since: float) -> None:
    pending = {(p["title"], t["refId"]): (t, substitute(t["expr"], values)) for p in query_panels() for t in p["targets"]}  # fmt: skip
    for (title, ref), (_, expr) in pending.items():
        parsed = subprocess.run([promtool, "query", "instant", prometheus, expr], capture_output=True, text=True, timeout=30)  # fmt: skip
        assert parsed.returncode == 0, f"{title} {ref}: {expr}\n{parsed.stderr}"
    deadline = time.monotonic() + 45
    while pending and time.monotonic() < deadline:
        pending = {key: (t, e) for key, (t, e) in pending.items() if not result_of(prometheus, t, e, since)}
        if pending:
            time.sleep(1)
    assert not pending, f"panels without data: {sorted(pending)}"


def check_variables(prometheus: str, tag: str) -> None:
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
        assert match, variable["query"]
        selector, label = match.groups()
        scoped = (
            selector.replace("{", '{e2e="' + tag + '", ', 1)
            if "{" in selector
            else f'{selector}{{e2e="{tag}"}}'
        )
        url = f"{prometheus}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": scoped})
        found = get_json(url)["data"]
        assert found, f"variable {variable['name']} has no values for {scoped}"
        if label == "entity":
            assert {"raqqa", "carter", "isis"} <= set(found)
