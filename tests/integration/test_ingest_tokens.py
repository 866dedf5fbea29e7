"""The ingest endpoint with bearer tokens on the real broker: refused requests never reach the topic."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from producers.ingest import make_app
from producers.ingest_auth import IngestAuth, TokenFile
from producers.intake import Intake
from producers.tokens import hash_token
from streams.model.settings import Settings
from tests.integration.test_producers import MakeTopic, publisher, read_topic

pytestmark = pytest.mark.integration

WIRE, LOCAL = "nmt_wire-token-0123456789", "nmt_local-token-9876543210"


def write_tokens(path: Path, *entries: dict[str, object]) -> None:
    staged = path.with_suffix(".new")
    staged.write_text(yaml.safe_dump({"tokens": list(entries)}), encoding="utf-8")
    os.replace(staged, path)


def article(n: int, source: str) -> dict[str, object]:
    return {"url": f"https://example.com/t/{n}", "title": f"عنوان {n}", "body": "بغداد", "source": source}


async def test_tokens_gate_publishing(
    stack_settings: Settings, make_topic: MakeTopic, tmp_path: Path
) -> None:
    topic = make_topic(partitions=8)
    sink, metrics = publisher(stack_settings, topic, "http")
    tokens = tmp_path / "tokens.yaml"
    wire = {
        "name": "wire",
        "sha256": hash_token(WIRE),
        "sources": ["wire-en", "wire-ar"],
        "rate_per_s": 1,
        "burst": 3,
    }
    local = {"name": "local", "sha256": hash_token(LOCAL), "sources": ["local"]}
    write_tokens(tokens, wire, local)
    auth = IngestAuth(TokenFile(tokens, metrics.registry), metrics.registry)
    app = make_app(Intake(sink, metrics, default_source="http"), stack_settings.max_article_bytes, auth=auth)
    bearer = {"Authorization": f"Bearer {WIRE}"}
    async with TestClient(TestServer(app)) as client:
        none = await client.post("/articles", json=article(1, "wire-en"))
        assert none.status == 401 and (await none.json())["error"] == "missing_token"
        wrong = await client.post(
            "/articles", json=article(2, "wire-en"), headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status == 401 and (await wrong.json())["error"] == "invalid_token"
        posing = await client.post("/articles", json=article(3, "local"), headers=bearer)
        assert posing.status == 403
        assert await posing.json() == {"error": "source_not_allowed",
                                       "detail": "token 'wire' may not publish as source 'local'"}  # fmt: skip
        ok = await client.post("/articles", json=article(4, "wire-ar"), headers=bearer)
        assert ok.status == 202
        accepted = (await ok.json())["ids"]
        # burst 3 at 1/s: two more pass, the next is over the limit
        for n in (5, 6):
            passed = await client.post("/articles", json=article(n, "wire-en"), headers=bearer)
            assert passed.status == 202
            accepted += (await passed.json())["ids"]
        limited = await client.post("/articles", json=article(7, "wire-en"), headers=bearer)
        assert limited.status == 429 and (await limited.json())["error"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        # Revoke `local` by rewriting the file: refused on the next request, no restart.
        local_ok = await client.post(
            "/articles", json=article(8, "local"), headers={"Authorization": f"Bearer {LOCAL}"}
        )
        assert local_ok.status == 202
        accepted += (await local_ok.json())["ids"]
        time.sleep(0.01)  # a new mtime even on coarse clocks
        write_tokens(tokens, wire)
        revoked = await client.post(
            "/articles", json=article(9, "local"), headers={"Authorization": f"Bearer {LOCAL}"}
        )
        assert revoked.status == 401 and (await revoked.json())["error"] == "invalid_token"
    sink.close()
    messages = read_topic(stack_settings, topic, len(accepted), timeout_s=30)
    assert sorted(key.decode() for key, _ in messages) == sorted(accepted) and len(accepted) == 4
    assert sorted(orjson.loads(orjson.dumps(v))["url"] for _, v in messages) == [
        f"https://example.com/t/{n}" for n in (4, 5, 6, 8)
    ]
    refused = {r: metrics.registry.get_sample_value("newsmon_producer_ingest_refused_total", {"reason": r})
               for r in ("missing_token", "invalid_token", "source_not_allowed", "rate_limited")}  # fmt: skip
    assert refused == {"missing_token": 1, "invalid_token": 2, "source_not_allowed": 1, "rate_limited": 1}
    assert (
        metrics.registry.get_sample_value("newsmon_producer_ingest_token_reloads_total", {"outcome": "ok"})
        == 1
    )
