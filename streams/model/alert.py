"""The Alert message on news.alerts, its deterministic ids, and the spec vocabulary rules/spikes/webhooks share."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, ValidationError

from streams.model.article import Article

# --- vocabulary shared by the rules, spikes and webhooks sections of the watchlist -------------------

Severity = Literal["info", "warning", "critical"]
Kind = Literal["rule", "spike"]
Status = Literal["firing", "resolved"]

ID_PATTERN = r"^[a-z0-9_-]+$"
SpecId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

_DURATION = re.compile(r"^([0-9]+)(ms|s|m|h|d)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class SpecError(ValueError):
    """A bad entry in the rules, spikes or webhooks section; the message names the entry and the problem."""

    def __init__(self, entry: str, problem: str) -> None:
        super().__init__(f"{entry}: {problem}")
        self.entry = entry
        self.problem = problem


def entry_label(section: str, index: int, raw: object) -> str:
    """``rules[2] (id 'isis_mosul')``: how errors name a list entry, with its id when it has one."""
    label = f"{section}[{index}]"
    if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
        label += f" (id {raw['id']!r})"
    return label


class HasId(Protocol):
    @property
    def id(self) -> str: ...


Entry = TypeVar("Entry", bound=HasId)


def load_list_section(
    raw: Any, section: str, kind: str, error: type[SpecError], load: Callable[[str, Any], Entry]
) -> tuple[Entry, ...]:
    """Load every entry of a list section (``rules``, ``spikes``) with `load(label, item)`; ids must be unique."""
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise error(section, f"must be a list of {kind}")
    loaded: list[Entry] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(raw):
        label = entry_label(section, index, item)
        entry = load(label, item)
        if entry.id in first_index:
            raise error(label, f"duplicate id (also {section}[{first_index[entry.id]}])")
        first_index[entry.id] = index
        loaded.append(entry)
    return tuple(loaded)


def describe_validation_error(exc: ValidationError) -> str:
    """Pydantic's errors as one line of ``field: problem`` items, worded for a YAML author."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key {where!r}")
        elif error["type"] == "missing":
            problems.append(f"missing required key {where!r}")
        elif where:
            problems.append(f"{where}: {error['msg']}")
        else:
            problems.append(str(error["msg"]))
    return "; ".join(problems)


def parse_duration(text: str) -> float:
    """Seconds in a duration written ``250ms``, ``30s``, ``5m``, ``1h`` or ``1d``."""
    found = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"bad duration {text!r}: write a whole number and a unit, e.g. 30s, 5m, 1h, 1d")
    value, unit = found.groups()
    return int(value) * _UNIT_SECONDS[unit]


def format_duration(seconds: float) -> str:
    """The shortest ``parse_duration`` spelling of a duration (``300`` → ``5m``)."""
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


# --- the Alert message ---------------------------------------------------------------------------------


class Evidence(BaseModel):
    """One article that supports an alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    article_id: str
    title: str
    url: str
    source: str
    published_at: str | None
    matched_names: list[str]

    @classmethod
    def from_article(cls, article: Article, matched_names: Sequence[str]) -> Evidence:
        return cls(
            article_id=article.id,
            title=article.title,
            url=article.url,
            source=article.source,
            published_at=article.published_at,
            matched_names=list(matched_names),
        )


class Alert(BaseModel):
    """The value on ``news.alerts`` (key: ``id``); delivery turns it into one webhook per receiver.

    Rule alerts are events (one per matching article) and are only ever ``firing``; spike alerts
    fire once and later resolve, the pair sharing ``starts_at`` and the firing window.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: Kind
    status: Status
    rule_id: str
    entity: str | None = None
    severity: Severity
    description: str = ""
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    count: int | None = None
    baseline: float | None = None
    ratio: float | None = None
    window: str | None = None
    evidence: list[Evidence] = []
    receivers: list[str] = []

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Alert:
        return cls.model_validate_json(data)


def _digest(*parts: str) -> str:
    # A unit separator cannot occur in ids, so ("a", "bc") and ("ab", "c") never collide.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def rule_alert_id(rule_id: str, article_id: str) -> str:
    """Same rule and article → same id, so a redelivered article never yields a second alert."""
    return _digest("rule", rule_id, article_id)


def spike_alert_id(spike_id: str, entity: str, window_start: int, status: Status) -> str:
    """Same spike, entity, firing window (unix seconds) and status → same id."""
    return _digest("spike", spike_id, entity, str(window_start), status)
