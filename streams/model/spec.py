"""The vocabulary the watchlist's rules, spikes and webhooks sections share: ids, durations, entry errors, the list-section loader."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, StringConstraints, ValidationError

from streams.model.validation import describe_validation_error

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
Spec = TypeVar("Spec", bound=BaseModel)
Compiled = TypeVar("Compiled")


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


def load_entry(
    label: str,
    item: Any,
    spec: type[Spec],
    build: Callable[[Spec], Compiled],
    error: type[SpecError],
    keys: str,
) -> Compiled:
    """One entry of a section: a mapping (with `keys`), validated into `spec`, then built (a ValueError
    there names the problem); every problem raises `error` naming the entry."""
    if not isinstance(item, Mapping):
        raise error(label, f"must be a mapping with {keys}")
    try:
        validated = spec.model_validate(item)
    except ValidationError as exc:
        raise error(label, describe_validation_error(exc)) from None
    try:
        return build(validated)
    except ValueError as exc:
        raise error(label, str(exc)) from None
