"""Watchlist loading and validation (docs/contract.md "Watchlist"); errors name the file, the entry, the problem."""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streams.matching.matcher import Matcher, tokenize

_ID = re.compile(r"[a-z0-9_-]+")
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_TOP_LEVEL_KEYS = frozenset({"entities", "rules", "spikes", "webhooks", "digests"})
_ENTITY_KEYS = frozenset({"id", "names"})


class WatchlistError(ValueError):
    """A watchlist that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Entity:
    """One watched entity: its id and its names per language code, as written in the file."""

    id: str
    names: Mapping[str, tuple[str, ...]]

    def all_names(self) -> list[str]:
        """Every name of the entity, languages in file order."""
        return [name for names in self.names.values() for name in names]


@dataclass(frozen=True, slots=True)
class Watchlist:
    """A validated watchlist. ``rules``, ``spikes``, ``webhooks`` and ``digests`` are kept raw for their owners.

    A name that normalizes to the same tokens as a name of another entity is an error (a mention
    could not be attributed); within one entity such spellings are allowed and count once.
    """

    entities: tuple[Entity, ...]
    rules: list[Any] = field(default_factory=list)
    spikes: list[Any] = field(default_factory=list)
    webhooks: dict[str, Any] = field(default_factory=dict)
    digests: list[Any] = field(default_factory=list)
    source: str = "<memory>"

    def entity_names(self) -> dict[str, list[str]]:
        """Entity id → names, in file order."""
        return {entity.id: entity.all_names() for entity in self.entities}

    def matcher(self) -> Matcher:
        """The compiled matcher for this watchlist's names."""
        return Matcher(self.entity_names())


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a mapping key given twice instead of keeping the last value."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Hashable, Any]:
    seen: set[Hashable] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


def load_watchlist(path: str | Path) -> Watchlist:
    """Read and validate the watchlist file at ``path``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WatchlistError(f"{source}: cannot read the file: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise WatchlistError(f"{source}: invalid YAML: {exc}") from exc
    return parse_watchlist(data, source)


def parse_watchlist(data: Any, source: str = "<memory>") -> Watchlist:
    """Validate already-parsed watchlist data; ``source`` names it in error messages."""
    if not isinstance(data, dict):
        raise WatchlistError(f"{source}: the top level must be a mapping with an 'entities' key")
    unknown = sorted(str(key) for key in data if key not in _TOP_LEVEL_KEYS)
    if unknown:
        raise WatchlistError(
            f"{source}: unknown top-level key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(_TOP_LEVEL_KEYS))}"
        )
    if "entities" not in data:
        raise WatchlistError(f"{source}: missing required key 'entities'")
    entities = _parse_entities(data["entities"], source)
    _reject_shared_names(entities, source)
    return Watchlist(
        entities=entities,
        rules=_raw_section(data, "rules", list, source),
        spikes=_raw_section(data, "spikes", list, source),
        webhooks=_raw_section(data, "webhooks", dict, source),
        digests=_raw_section(data, "digests", list, source),
        source=source,
    )


def _raw_section(data: dict[str, Any], key: str, kind: type, source: str) -> Any:
    value = data.get(key)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        expected = "a list" if kind is list else "a mapping"
        raise WatchlistError(f"{source}: {key}: must be {expected}, got {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _parse_entities(value: Any, source: str) -> tuple[Entity, ...]:
    if not isinstance(value, list):
        raise WatchlistError(f"{source}: entities: must be a list, got {_type_name(value)}")
    if not value:
        raise WatchlistError(f"{source}: entities: the list is empty")
    entities: list[Entity] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(value):
        entity = _parse_entity(item, index, source)
        if entity.id in first_index:
            raise WatchlistError(
                f"{source}: {_where(index, entity.id)}: duplicate id, "
                f"already used by entities[{first_index[entity.id]}]"
            )
        first_index[entity.id] = index
        entities.append(entity)
    return tuple(entities)


def _where(index: int, entity_id: str | None) -> str:
    return f"entities[{index}]" if entity_id is None else f"entities[{index}] (id {entity_id!r})"


def _parse_entity(item: Any, index: int, source: str) -> Entity:
    if not isinstance(item, dict):
        raise WatchlistError(f"{source}: entities[{index}]: must be a mapping, got {_type_name(item)}")
    raw_id = item.get("id")
    entity_id = raw_id if isinstance(raw_id, str) else None
    where = f"{source}: {_where(index, entity_id)}"
    unknown = sorted(str(key) for key in item if key not in _ENTITY_KEYS)
    if unknown:
        raise WatchlistError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: id, names")
    if raw_id is None:
        raise WatchlistError(f"{where}: missing 'id'")
    if entity_id is None:
        raise WatchlistError(f"{where}: id must be a string, got {_type_name(raw_id)}")
    if not _ID.fullmatch(entity_id):
        raise WatchlistError(f"{where}: id must match [a-z0-9_-]+")
    if "names" not in item:
        raise WatchlistError(f"{where}: missing 'names'")
    return Entity(entity_id, _parse_names(item["names"], where))


def _parse_names(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise WatchlistError(f"{where}: names must be a mapping of language code to a list of names")
    if not value:
        raise WatchlistError(f"{where}: names is empty")
    names: dict[str, tuple[str, ...]] = {}
    for lang, items in value.items():
        if not isinstance(lang, str) or not _LANG.fullmatch(lang):
            raise WatchlistError(f"{where}: names: {lang!r} is not a language code like 'ar' or 'en'")
        names[lang] = _parse_name_list(items, f"{where}: names.{lang}")
    return names


def _parse_name_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise WatchlistError(f"{where}: must be a list of names, got {_type_name(value)}")
    if not value:
        raise WatchlistError(f"{where}: the list of names is empty")
    for position, name in enumerate(value):
        if not isinstance(name, str):
            raise WatchlistError(f"{where}[{position}]: must be a string, got {_type_name(name)}")
        if not name.strip():
            raise WatchlistError(f"{where}[{position}]: empty name")
        if not tokenize(name):
            raise WatchlistError(
                f"{where}[{position}]: {name!r} normalizes to nothing (no letters or digits)"
            )
    return tuple(value)


def _reject_shared_names(entities: tuple[Entity, ...], source: str) -> None:
    owner: dict[tuple[str, ...], tuple[int, str]] = {}
    for index, entity in enumerate(entities):
        for name in entity.all_names():
            key = tuple(tokenize(name))
            first_index, first_name = owner.setdefault(key, (index, name))
            if first_index != index:
                raise WatchlistError(
                    f"{source}: {_where(index, entity.id)}: name {name!r} is also a name of "
                    f"{_where(first_index, entities[first_index].id)} ({first_name!r}); "
                    f"both normalize to {' '.join(key)!r}"
                )


def file_stamp(path: Path) -> tuple[int, int] | None:
    """(mtime, size) of a watchlist file, to notice edits without reading it; None when missing."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
