"""Watchlist loading and validation (docs/contract.md "Watchlist"); errors name the file, the entry, the problem."""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streams.matching.matcher import Matcher, canonical_form, tokenize
from streams.watchlist.entity_files import (
    DEFAULT_MAX_BYTES,
    EntityFileError,
    EntityRecord,
    read_entity_files,
    resolve_entity_paths,
)

log = logging.getLogger(__name__)
_ID = re.compile(r"[a-z0-9_-]+")
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_TOP_LEVEL_KEYS = frozenset(
    {"entities", "entities_files", "strict_names", "rules", "spikes", "webhooks", "digests"}
)
_ENTITY_KEYS = frozenset({"id", "names"})
_SHARED_EXAMPLES = 5  # shared names quoted in the load report
_FREE_SLICE = 20_000  # records freed at a time: a few ms of GIL each


class WatchlistError(ValueError):
    """A watchlist that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Entity:
    """One watched entity: its id and its names per language code, as written in the file.

    ``forms`` are the names' internal forms (normalized tokens joined by a space, in ``all_names``
    order), computed once while validating so that compiling does not normalize again; ``where``
    names the entity in messages (``entities[3] (id 'x')`` or ``people.jsonl:7 (id 'x')``).
    """

    id: str
    names: Mapping[str, tuple[str, ...]]
    forms: tuple[bytes, ...] = field(default=(), compare=False)
    where: str = field(default="", compare=False)

    def all_names(self) -> list[str]:
        """Every name of the entity, languages in file order."""
        return [name for names in self.names.values() for name in names]


@dataclass(frozen=True, slots=True)
class Watchlist:
    """A validated watchlist. ``rules``, ``spikes``, ``webhooks`` and ``digests`` are kept raw for their owners.

    Entities are the inline ``entities`` followed by those of ``entities_files`` (JSON Lines, see
    streams.watchlist.entity_files), in order. A name listed under several entities counts for each
    of them; with ``strict_names: true`` it is an error instead. Within one entity, spellings that
    normalize alike count once.
    """

    entities: tuple[Entity, ...]
    rules: list[Any] = field(default_factory=list)
    spikes: list[Any] = field(default_factory=list)
    webhooks: dict[str, Any] = field(default_factory=dict)
    digests: list[Any] = field(default_factory=list)
    source: str = "<memory>"
    entity_files: tuple[Path, ...] = ()
    strict_names: bool = False

    def entity_names(self) -> dict[str, list[str]]:
        """Entity id → names, in file order."""
        return {entity.id: entity.all_names() for entity in self.entities}

    def matcher(self) -> Matcher:
        """The compiled matcher for this watchlist's names; logs once how many names are shared."""
        matcher = Matcher.from_forms(
            (entity.id, name, form)
            for entity in self.entities
            for name, form in zip(entity.all_names(), _forms_of(entity), strict=True)
        )
        shared = matcher.stats().shared_names
        if shared:
            examples = "; ".join(
                f"{owners[0][1]!r} ({', '.join(entity for entity, _ in owners)})"
                for owners in matcher.shared_names(_SHARED_EXAMPLES)
            )
            log.info("%s: %d names are listed under several entities and count for each, e.g. %s",
                     self.source, shared, examples)  # fmt: skip
        return matcher


def _forms_of(entity: Entity) -> tuple[bytes, ...]:
    """The entity's internal forms (computed here for entities built without them, e.g. in tests)."""
    return entity.forms or tuple(canonical_form(name) for name in entity.all_names())


class _UniqueKeyLoader(yaml.CSafeLoader):
    """libyaml's safe loader (4x the pure-Python one: 10,000 entities in ~1 s instead of ~4.5 s) that
    rejects a mapping key given twice instead of keeping the last value."""


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


def load_watchlist(path: str | Path, max_entity_file_bytes: int = DEFAULT_MAX_BYTES) -> Watchlist:
    """Read and validate the watchlist file at ``path`` and the entity files it lists."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WatchlistError(f"{source}: cannot read the file: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise WatchlistError(f"{source}: invalid YAML: {exc}") from exc
    return parse_watchlist(data, source, Path(path).parent, max_entity_file_bytes)


def parse_watchlist(
    data: Any,
    source: str = "<memory>",
    base: Path = Path("."),
    max_entity_file_bytes: int = DEFAULT_MAX_BYTES,
) -> Watchlist:
    """Validate already-parsed watchlist data; ``source`` names it in error messages, ``base`` is the
    directory that ``entities_files`` paths are relative to."""
    if not isinstance(data, dict):
        raise WatchlistError(f"{source}: the top level must be a mapping with an 'entities' key")
    unknown = sorted(str(key) for key in data if key not in _TOP_LEVEL_KEYS)
    if unknown:
        raise WatchlistError(
            f"{source}: unknown top-level key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(_TOP_LEVEL_KEYS))}"
        )
    if "entities" not in data and "entities_files" not in data:
        raise WatchlistError(f"{source}: missing required key 'entities' (or 'entities_files')")
    inline = _parse_entities(data["entities"], source) if "entities" in data else ()
    files, from_files = _entities_from_files(data, source, base, inline, max_entity_file_bytes)
    entities = inline + from_files
    if not entities:
        raise WatchlistError(f"{source}: no entities: the entity files are empty")
    strict = data.get("strict_names", False)
    if not isinstance(strict, bool):
        raise WatchlistError(f"{source}: strict_names: must be true or false, got {_type_name(strict)}")
    if strict:
        _reject_shared_names(entities, source)
    return Watchlist(
        entities=entities,
        rules=_raw_section(data, "rules", list, source),
        spikes=_raw_section(data, "spikes", list, source),
        webhooks=_raw_section(data, "webhooks", dict, source),
        digests=_raw_section(data, "digests", list, source),
        source=source,
        entity_files=files,
        strict_names=strict,
    )


def _entities_from_files(
    data: dict[str, Any], source: str, base: Path, inline: tuple[Entity, ...], max_bytes: int
) -> tuple[tuple[Path, ...], tuple[Entity, ...]]:
    if "entities_files" not in data:
        return (), ()
    try:
        paths = resolve_entity_paths(data["entities_files"], base, source)
        records = read_entity_files(
            paths, max_bytes, {entity.id: f"{source}: {entity.where}" for entity in inline}
        )
    except EntityFileError as exc:
        raise WatchlistError(str(exc)) from exc
    entities = tuple(_entity_of(record) for record in records)
    # Freeing 200,000 records in one go (when `records` goes) held the GIL ~60 ms: a slice at a time.
    while records:
        del records[-_FREE_SLICE:]
    return paths, entities


def _entity_of(record: EntityRecord) -> Entity:
    return Entity(record.id, record.names, record.forms, f"{record.where} (id {record.id!r})")


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
    forms: list[bytes] = []
    names = _parse_names(item["names"], where, forms)
    return Entity(entity_id, names, tuple(forms), _where(index, entity_id))


def _parse_names(value: Any, where: str, forms: list[bytes]) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise WatchlistError(f"{where}: names must be a mapping of language code to a list of names")
    if not value:
        raise WatchlistError(f"{where}: names is empty")
    names: dict[str, tuple[str, ...]] = {}
    for lang, items in value.items():
        if not isinstance(lang, str) or not _LANG.fullmatch(lang):
            raise WatchlistError(f"{where}: names: {lang!r} is not a language code like 'ar' or 'en'")
        names[lang] = _parse_name_list(items, f"{where}: names.{lang}", forms)
    return names


def _parse_name_list(value: Any, where: str, forms: list[bytes]) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise WatchlistError(f"{where}: must be a list of names, got {_type_name(value)}")
    if not value:
        raise WatchlistError(f"{where}: the list of names is empty")
    for position, name in enumerate(value):
        if not isinstance(name, str):
            raise WatchlistError(f"{where}[{position}]: must be a string, got {_type_name(name)}")
        if not name.strip():
            raise WatchlistError(f"{where}[{position}]: empty name")
        form = canonical_form(name)  # the tokens of tokenize(), fast
        if not form:
            raise WatchlistError(
                f"{where}[{position}]: {name!r} normalizes to nothing (no letters or digits)"
            )
        forms.append(form)
    return tuple(value)


def _reject_shared_names(entities: tuple[Entity, ...], source: str) -> None:
    """strict_names: a name normalizing like a name of another entity is an error."""
    owner: dict[bytes, tuple[int, str]] = {}
    for index, entity in enumerate(entities):
        for name, form in zip(entity.all_names(), _forms_of(entity), strict=True):
            first_index, first_name = owner.setdefault(form, (index, name))
            if first_index != index:
                raise WatchlistError(
                    f"{source}: {entity.where}: name {name!r} is also a name of "
                    f"{entities[first_index].where} ({first_name!r}); "
                    f"both normalize to {' '.join(tokenize(name))!r}"
                )


def file_stamp(path: Path) -> tuple[int, int] | None:
    """(mtime, size) of a watchlist file, to notice edits without reading it; None when missing."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
