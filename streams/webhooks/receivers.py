"""The watchlist's webhooks section: receiver specs, loaded and checked into Receivers."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
)

from streams.model.spec import ID_PATTERN, SpecError, load_entry, parse_duration
from streams.webhooks.signing import signing_key

Format = Literal["alertmanager", "slack"]


class ReceiverSpec(BaseModel):
    """One value of the watchlist's ``webhooks`` mapping (see docs/watchlist.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    format: Format = "alertmanager"
    secret_env: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    timeout: str = "5s"
    # 10 attempts with full-jitter backoff up to 1m retry for ~2 minutes on average (4 at most),
    # so a receiver that restarts or is down for a deploy loses nothing.
    max_attempts: StrictInt = Field(default=10, ge=1, le=50)
    backoff_initial: str = "1s"
    backoff_max: str = "1m"
    retry_after_max: str = "5m"  # a longer Retry-After is cut to this, so one receiver cannot stall delivery
    rate_limit_per_s: float = Field(default=5.0, gt=0)
    external_url: str = ""  # externalURL and generatorURL in Alertmanager bodies, e.g. a dashboard link

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        scheme, _, rest = value.partition("://")
        if scheme not in ("http", "https") or not rest.split("/", 1)[0]:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("timeout", "backoff_initial", "backoff_max", "retry_after_max")
    @classmethod
    def _positive_duration(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError(f"{value!r} must be longer than zero")
        return value


@dataclass(frozen=True, slots=True)
class Receiver:
    """A receiver ready for delivery: durations in seconds, the secret read from its env var."""

    name: str
    url: str
    format: Format
    secret: str = field(repr=False)
    timeout: float = 5.0
    max_attempts: int = 10
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0
    rate_limit_per_s: float = 5.0
    external_url: str = ""


class ReceiverError(SpecError):
    """A bad entry in the ``webhooks`` section."""


def load_receivers(raw: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Receiver]:
    """Validate the ``webhooks`` section and read each secret from its env var (default: os.environ)."""
    if not isinstance(raw, Mapping):
        raise ReceiverError("webhooks", "must be a mapping of receiver name to receiver")
    environment = os.environ if env is None else env
    return {name: _load_receiver(name, item, environment) for name, item in raw.items()}


def _load_receiver(name: Any, item: Any, env: Mapping[str, str]) -> Receiver:
    label = f"webhooks[{name!r}]"
    if not isinstance(name, str) or not _is_id(name):
        raise ReceiverError(label, "receiver names are [a-z0-9_-]+")
    return load_entry(
        label,
        item,
        ReceiverSpec,
        lambda spec: receiver_from_spec(name, spec, _secret(spec, env)),
        ReceiverError,
        "url and secret_env",
    )


def _secret(spec: ReceiverSpec, env: Mapping[str, str]) -> str:
    secret = env.get(spec.secret_env, "")
    if not secret:
        raise ValueError(f"environment variable {spec.secret_env} (secret_env) is not set or empty")
    try:
        signing_key(secret)
    except ValueError as exc:
        raise ValueError(f"secret in {spec.secret_env}: {exc}") from None
    return secret


def _is_id(name: str) -> bool:
    return re.match(ID_PATTERN, name) is not None


def receiver_from_spec(name: str, spec: ReceiverSpec, secret: str) -> Receiver:
    return Receiver(
        name=name,
        url=spec.url,
        format=spec.format,
        secret=secret,
        timeout=parse_duration(spec.timeout),
        max_attempts=spec.max_attempts,
        backoff_initial=parse_duration(spec.backoff_initial),
        backoff_max=parse_duration(spec.backoff_max),
        retry_after_max=parse_duration(spec.retry_after_max),
        rate_limit_per_s=spec.rate_limit_per_s,
        external_url=spec.external_url,
    )
