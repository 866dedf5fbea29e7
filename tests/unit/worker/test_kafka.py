"""Kafka security settings reach both client libraries."""

from __future__ import annotations

import ssl

import faust
from pydantic import SecretStr

from streams.model.settings import Settings
from streams.worker.kafka import faust_credentials, kafka_python_options


def settings(**fields: object) -> Settings:
    return Settings(_env_file=None, **fields)  # type: ignore[arg-type]


def test_plaintext_has_no_credentials() -> None:
    plain = settings(kafka_bootstrap="a:9092,b:9092")
    assert kafka_python_options(plain) == {
        "bootstrap_servers": ["a:9092", "b:9092"],
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(plain) is None


def test_sasl_ssl_for_both_clients() -> None:
    secure = settings(
        kafka_bootstrap="127.0.0.1:9092",
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="newsmon", kafka_sasl_password=SecretStr("s3cret"),
    )  # fmt: skip
    assert kafka_python_options(secure) == {
        "bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "newsmon", "sasl_plain_password": "s3cret",
    }  # fmt: skip
    credentials = faust_credentials(secure)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password, credentials.mechanism.value) == (
        "newsmon",
        "s3cret",
        "SCRAM-SHA-512",
    )
    assert credentials.ssl_context is not None


def test_ssl_only() -> None:
    credentials = faust_credentials(settings(kafka_security_protocol="SSL"))
    assert isinstance(credentials, faust.SSLCredentials)
    assert (
        credentials.context.verify_mode,
        credentials.context.check_hostname,
        credentials.protocol.value,
    ) == (
        ssl.CERT_REQUIRED,
        True,
        "SSL",
    )


def test_secret_is_not_in_repr() -> None:
    assert "s3cret" not in repr(settings(kafka_sasl_password=SecretStr("s3cret")))
