"""The ``alertmanager_api`` receiver format of the watchlist's ``webhooks`` section: spec, validation, targets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, StringConstraints, ValidationError, field_validator

from streams.model.spec import ID_PATTERN, parse_duration
from streams.model.validation import describe_validation_error
from streams.webhooks.alertmanager_api import ApiPolicy, api_targets
from streams.webhooks.receivers import (
    Receiver,
    ReceiverError,
    ReceiverSpec,
    load_receivers,
    receiver_from_spec,
)
from streams.webhooks.signing import signing_key

FORMAT = "alertmanager_api"
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class AlertmanagerApiSpec(ReceiverSpec):
    """A ``webhooks`` entry with ``format: alertmanager_api``: the retry keys of every receiver,
    ``urls`` (every Alertmanager of the cluster) instead of ``url``, and an optional secret."""

    format: Literal["alertmanager_api"]  # type: ignore[assignment]
    url: str = ""  # rejected when given: an HA cluster has several, see urls
    urls: list[str] = Field(min_length=1)
    secret_env: EnvName | None = None  # type: ignore[assignment]  # Alertmanager checks no signature
    resend_interval: str = "1m"
    rule_ttl: str = "5m"
    evidence_max_bytes: StrictInt = Field(default=2048, ge=256, le=65536)

    @field_validator("url")
    @classmethod
    def _no_single_url(cls, value: str) -> str:
        if value:
            raise ValueError("alertmanager_api takes urls: a list with every Alertmanager of the cluster")
        return value

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        return [ReceiverSpec._http_url(url) for url in value]

    @field_validator("resend_interval", "rule_ttl")
    @classmethod
    def _positive(cls, value: str) -> str:
        return ReceiverSpec._positive_duration(value)


@dataclass(frozen=True, slots=True)
class ApiReceiver:
    """A loaded ``alertmanager_api`` receiver: one delivery target per Alertmanager, one body policy."""

    name: str
    targets: tuple[Receiver, ...]
    policy: ApiPolicy


AnyReceiver = Receiver | ApiReceiver


def is_api_receiver(item: Any) -> bool:
    """Entries of the ``webhooks`` section that ``load_receiver_section`` loads as ``alertmanager_api``."""
    return isinstance(item, Mapping) and item.get("format") == FORMAT


def load_receiver_section(raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, AnyReceiver]:
    """The whole ``webhooks`` section in file order: webhooks and Slack via ``load_receivers``,
    ``format: alertmanager_api`` entries as ApiReceivers."""
    plain = load_receivers(
        {name: item for name, item in raw.items() if not is_api_receiver(item)}
        if isinstance(raw, Mapping)
        else raw,
        env,
    )
    loaded: dict[str, AnyReceiver] = {}
    for name, item in raw.items():
        loaded[name] = plain[name] if name in plain else load_api_receiver(_checked_name(name), item, env)
    return loaded


def _checked_name(name: Any) -> str:
    if not isinstance(name, str) or re.fullmatch(ID_PATTERN, name) is None:
        raise ReceiverError(f"webhooks[{name!r}]", "receiver names are [a-z0-9_-]+")
    return name


def delivery_names(receivers: Mapping[str, AnyReceiver]) -> list[str]:
    """The ``receiver`` label values of the delivery metrics: a webhook's name, and
    ``<name>@<host:port>`` for each Alertmanager of an ``alertmanager_api`` receiver."""
    names: list[str] = []
    for name, receiver in receivers.items():
        names += [t.name for t in receiver.targets] if isinstance(receiver, ApiReceiver) else [name]
    return names


def load_api_receiver(name: str, item: Mapping[str, Any], env: Mapping[str, str]) -> ApiReceiver:
    """Validate one entry; raises ReceiverError naming ``webhooks['<name>']`` and the problem."""
    label = f"webhooks[{name!r}]"
    try:
        spec = AlertmanagerApiSpec.model_validate(item)
    except ValidationError as exc:
        raise ReceiverError(label, describe_validation_error(exc)) from None
    secret = _secret(label, spec.secret_env, env)
    template = receiver_from_spec(name, spec, secret)
    policy = ApiPolicy(
        resend_interval=parse_duration(spec.resend_interval),
        rule_ttl=parse_duration(spec.rule_ttl),
        evidence_max_bytes=spec.evidence_max_bytes,
        external_url=spec.external_url,
    )
    return ApiReceiver(name, tuple(api_targets(template, spec.urls)), policy)


def _secret(label: str, secret_env: str | None, env: Mapping[str, str]) -> str:
    """No secret_env → unsigned posts; one named → it must be set and valid (a signing proxy checks it)."""
    if secret_env is None:
        return ""
    secret = env.get(secret_env, "")
    if not secret:
        raise ReceiverError(label, f"environment variable {secret_env} (secret_env) is not set or empty")
    try:
        signing_key(secret)
    except ValueError as exc:
        raise ReceiverError(label, f"secret in {secret_env}: {exc}") from None
    return secret
