"""Security checks: secrets only from the environment, no article content in /metrics, auth and TLS
options for Kafka and Redis. (Webhook signatures are verified by the receiver in every e2e and
reliability test: `receiver.rejected == 0` there.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from streams.model.settings import Settings
from streams.watchlist.compiled import compile_watchlist
from streams.watchlist.file import WatchlistError
from streams.worker.kafka import kafka_python_options
from tests.e2e.harness import SAMPLE, SECRET, Pipeline, base_watchlist
from tests.reliability.faults import replay_of, seen_count

pytestmark = pytest.mark.reliability
Deploy = Callable[..., Pipeline]
ENV = {"NEWSMON_E2E_WEBHOOK_SECRET": SECRET}


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# -- secrets only from the environment ------------------------------------------------------------------


def test_watchlist_with_a_literal_secret_is_rejected(tmp_path: Path) -> None:
    data = base_watchlist(receiver_url="http://127.0.0.1:9/hook")
    data["webhooks"]["e2e"]["secret"] = SECRET
    path = write(tmp_path, data)
    with pytest.raises(WatchlistError) as caught:
        compile_watchlist(path, ENV)
    message = str(caught.value)
    assert str(path) in message and "webhooks['e2e']" in message and "secret" in message
    assert SECRET not in message, "the error must not echo the secret"


def test_watchlist_secret_env_must_be_set_and_is_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, base_watchlist(receiver_url="http://127.0.0.1:9/hook"))
    with pytest.raises(WatchlistError, match=r"NEWSMON_E2E_WEBHOOK_SECRET.*not set or empty"):
        compile_watchlist(path, {})
    compiled = compile_watchlist(path, ENV)
    assert compiled.receivers["e2e"].secret == SECRET
    assert SECRET not in repr(compiled.receivers["e2e"])


def test_kafka_sasl_password_is_a_secret_in_settings() -> None:
    settings = Settings(_env_file=None, kafka_sasl_password="hunter2-kafka")  # type: ignore[call-arg]
    assert "hunter2-kafka" not in repr(settings) and "hunter2-kafka" not in str(settings.model_dump())


# -- /metrics carries no article content -----------------------------------------------------------------


def test_worker_metrics_expose_no_article_text_or_urls(deploy: Deploy, tmp_path: Path) -> None:
    replay = replay_of(1000, tmp_path)
    pipeline = deploy()
    pipeline.start_worker()
    pipeline.produce("replay", str(replay.path), "--no-progress", "--metrics-port", "0")
    pipeline.wait(lambda: seen_count(pipeline) >= 1000, 120, "1000 articles counted")
    pipeline.wait(lambda: pipeline.metric("newsmon_webhook_deliveries_total",
                                          {"receiver": "e2e", "outcome": "delivered"}) >= 1, 60, "an alert")  # fmt: skip
    _, port, _ = pipeline.workers["w1"]
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "newsmon_articles_total" in text
    assert not re.search(r"[\u0600-\u06FF]", text), "Arabic text in /metrics"
    assert "http://" not in text and "https://" not in text and "synthetic.newsmon" not in text
    assert "[synthetic]" not in text and SAMPLE.name not in text
    for article in replay.articles:
        assert article["id"] not in text and article["url"] not in text and article["title"] not in text
        assert article["source"] not in text  # sources are not metric labels (unbounded)
    labels = set(re.findall(r'(\w+)="', text))
    assert labels <= {
        "outcome",
        "reason",
        "entity",
        "kind",
        "receiver",
        "topic",
        "partition",
        "le",
        "quantile",
    }


# -- Kafka and Redis auth/TLS options ----------------------------------------------------------------------


def test_kafka_options_plaintext_by_default() -> None:
    settings = Settings(_env_file=None, kafka_bootstrap="127.0.0.1:9092")  # type: ignore[call-arg]
    assert kafka_python_options(settings) == {
        "bootstrap_servers": ["127.0.0.1:9092"],
        "security_protocol": "PLAINTEXT",
    }


def test_kafka_options_sasl_ssl_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    for name, value in {
        "NEWSMON_KAFKA_BOOTSTRAP": "k1.example.internal:9093,k2.example.internal:9093",
        "NEWSMON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "NEWSMON_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "NEWSMON_KAFKA_SASL_USERNAME": "newsmon",
        "NEWSMON_KAFKA_SASL_PASSWORD": "s3cret",
        "NEWSMON_KAFKA_SSL_CAFILE": str(ca),
    }.items():
        monkeypatch.setenv(name, value)
    options = kafka_python_options(Settings(_env_file=None))  # type: ignore[call-arg]
    assert options == {
        "bootstrap_servers": ["k1.example.internal:9093", "k2.example.internal:9093"],
        "security_protocol": "SASL_SSL",
        "ssl_cafile": str(ca),
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "newsmon",
        "sasl_plain_password": "s3cret",
    }
    # Every key is a real option of each kafka-python client that newsmon builds from them.
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert set(options) <= set(client.DEFAULT_CONFIG), client.__name__


def test_kafka_options_ssl_without_sasl(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "ca.pem"
    )
    options = kafka_python_options(settings)
    assert options["security_protocol"] == "SSL" and options["ssl_cafile"] == str(tmp_path / "ca.pem")
    assert not any(key.startswith("sasl") for key in options)


@pytest.mark.parametrize("client", [redis.Redis, aioredis.Redis])
def test_redis_url_with_tls_user_and_password(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "rediss://newsmon:p%40ss@redis.example.internal:6380/2?ssl_cert_reqs=required&ssl_ca_certs=/etc/ssl/ca.pem"
    monkeypatch.setenv("NEWSMON_REDIS_URL", url)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.redis_url == url
    store = client.from_url(
        settings.redis_url, socket_timeout=5, socket_connect_timeout=5
    )  # as streams/app.py
    pool = store.connection_pool
    kwargs = pool.connection_kwargs
    assert "SSL" in pool.connection_class.__name__
    assert (kwargs["username"], kwargs["password"]) == ("newsmon", "p@ss")
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis.example.internal", 6380, 2)
    assert kwargs["ssl_cert_reqs"] == "required" and kwargs["ssl_ca_certs"] == "/etc/ssl/ca.pem"


def test_worker_passes_kafka_auth_and_tls_to_faust(tmp_path: Path) -> None:
    """The worker's Faust app must use the same SASL/TLS settings as the kafka-python clients.

    Fails today: streams/app.py builds `faust.App(broker=f"kafka://{bootstrap}")` without
    `broker_credentials`, so a SASL_SSL cluster is reached in PLAINTEXT (see docs/reliability.md).
    """
    from prometheus_client import CollectorRegistry

    from streams.worker.build import create_app

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="newsmon", kafka_sasl_password="s3cret",
        watchlist=Path(__file__).resolve().parents[2] / "ops" / "watchlist.yaml",
    )  # fmt: skip
    app = create_app(settings, CollectorRegistry())
    credentials = app.conf.broker_credentials
    assert credentials is not None, "streams/app.py does not pass broker_credentials to faust.App"
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("newsmon", "s3cret")
