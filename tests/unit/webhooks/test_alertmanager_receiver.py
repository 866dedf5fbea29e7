"""The alertmanager_api receiver spec: urls of the HA cluster, body policy, optional signing, errors named."""

from __future__ import annotations

import pytest

from streams.webhooks.alertmanager_api import ApiPolicy
from streams.webhooks.alertmanager_receiver import is_api_receiver, load_api_receiver
from streams.webhooks.receivers import ReceiverError

SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM="
BASE = {"format": "alertmanager_api", "urls": ["http://am-a:9093", "http://am-b:9093/"]}


def test_loads_one_target_per_alertmanager_with_the_retry_keys_and_the_body_policy() -> None:
    raw = {**BASE, "resend_interval": "30s", "rule_ttl": "10m", "evidence_max_bytes": 512,
           "external_url": "http://grafana/d/newsmon", "max_attempts": 4, "timeout": "2s"}  # fmt: skip
    loaded = load_api_receiver("am", raw, {})
    assert [(t.name, t.url, t.secret, t.max_attempts, t.timeout) for t in loaded.targets] == [
        ("am@am-a:9093", "http://am-a:9093/api/v2/alerts", "", 4, 2.0),
        ("am@am-b:9093", "http://am-b:9093/api/v2/alerts", "", 4, 2.0),
    ]
    assert loaded.policy == ApiPolicy(resend_interval=30, rule_ttl=600, evidence_max_bytes=512,
                                      external_url="http://grafana/d/newsmon")  # fmt: skip


def test_defaults() -> None:
    loaded = load_api_receiver("am", BASE, {})
    assert loaded.policy == ApiPolicy(resend_interval=60, rule_ttl=300, evidence_max_bytes=2048)
    assert loaded.targets[0].max_attempts == 10


def test_a_named_secret_signs() -> None:
    loaded = load_api_receiver("am", {**BASE, "secret_env": "AM_SECRET"}, {"AM_SECRET": SECRET})
    assert {t.secret for t in loaded.targets} == {SECRET}


def test_is_api_receiver() -> None:
    assert is_api_receiver(BASE)
    assert not is_api_receiver({"format": "alertmanager", "url": "http://x"})
    assert not is_api_receiver(["format"])


@pytest.mark.parametrize(
    ("raw", "env", "problem"),
    [
        ({**BASE, "urls": []}, {}, "urls: List should have at least 1 item after validation, not 0"),
        (
            {**BASE, "urls": ["am-a:9093"]},
            {},
            "urls: Value error, 'am-a:9093' is not an http:// or https:// URL",
        ),
        ({**BASE, "url": "http://am-a:9093"}, {}, "url: Value error, alertmanager_api takes urls"),
        (
            {**BASE, "resend_interval": "0s"},
            {},
            "resend_interval: Value error, '0s' must be longer than zero",
        ),
        ({**BASE, "rule_ttl": "5 minutes"}, {}, "rule_ttl: Value error, bad duration '5 minutes'"),
        (
            {**BASE, "evidence_max_bytes": 10},
            {},
            "evidence_max_bytes: Input should be greater than or equal to 256",
        ),
        (
            {**BASE, "secret_env": "AM_SECRET"},
            {},
            "environment variable AM_SECRET (secret_env) is not set or empty",
        ),
        (
            {**BASE, "secret_env": "AM_SECRET"},
            {"AM_SECRET": "whsec_!!"},
            "secret in AM_SECRET: a secret starting",
        ),
        ({**BASE, "group_by": ["x"]}, {}, "unknown key 'group_by'"),
        ({"format": "alertmanager_api"}, {}, "missing required key 'urls'"),
    ],
)
def test_rejects(raw: dict[str, object], env: dict[str, str], problem: str) -> None:
    with pytest.raises(ReceiverError) as caught:
        load_api_receiver("am", raw, env)
    assert str(caught.value).startswith(f"webhooks['am']: {problem}")
