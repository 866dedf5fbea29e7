"""Entity files (watchlist key `entities_files`): JSON Lines of entity objects; errors name file:line."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.matching.matcher import canonical_form

ENTITY_ID = re.compile(r"[a-z0-9_-]+")
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
ENTITY_KEYS = ("id", "names")
# 1,000,000 names in 200,000 entities take 35 MB; the cap keeps a wrong path (a dump, a log) from
# exhausting the worker's memory.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


class EntityFileError(ValueError):
    """An entity file that cannot be used; the message starts with file:line where there is one."""


@dataclass(frozen=True, slots=True)
class EntityRecord:
    """One validated entity: names per language as written, and each name's internal form in the
    same order: its normalized tokens (docs/contract.md "Matching" rules 1-2) joined by one space, which is
    what decides whether two names are the same, and what the matcher compiles without normalizing
    again."""

    id: str
    names: Mapping[str, tuple[str, ...]]
    forms: tuple[bytes, ...]
    source: str
    line: int  # 0 when the entity is not from a line-oriented file

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source

    def all_names(self) -> list[str]:
        """Every name, languages in file order (parallel to ``forms``)."""
        return [name for names in self.names.values() for name in names]


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def validate_entity(value: Any, where: str, source: str = "<memory>", line: int = 0) -> EntityRecord:
    """Check one entity object (`{"id": ..., "names": {lang: [names]}}`); ``where`` prefixes errors."""
    if not isinstance(value, dict):
        raise EntityFileError(f"{where}: an entity must be an object, got {_type_name(value)}")
    unknown = sorted(str(key) for key in value if key not in ENTITY_KEYS)
    if unknown:
        raise EntityFileError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: id, names")
    entity_id = value.get("id")
    if entity_id is None:
        raise EntityFileError(f"{where}: missing 'id'")
    if not isinstance(entity_id, str):
        raise EntityFileError(f"{where}: id must be a string, got {_type_name(entity_id)}")
    if not ENTITY_ID.fullmatch(entity_id):
        raise EntityFileError(f"{where}: id {entity_id!r} must match [a-z0-9_-]+")
    if "names" not in value:
        raise EntityFileError(f"{where} (id {entity_id!r}): missing 'names'")
    names, forms = _validate_names(value["names"], f"{where} (id {entity_id!r})")
    return EntityRecord(entity_id, names, forms, source, line)


def _validate_names(value: Any, where: str) -> tuple[dict[str, tuple[str, ...]], tuple[bytes, ...]]:
    if not isinstance(value, dict):
        raise EntityFileError(f"{where}: names must map language codes to lists of names")
    if not value:
        raise EntityFileError(f"{where}: names is empty")
    names: dict[str, tuple[str, ...]] = {}
    forms: list[bytes] = []
    for language, items in value.items():
        if not isinstance(language, str) or not LANGUAGE_CODE.fullmatch(language):
            raise EntityFileError(f"{where}: names: {language!r} is not a language code like 'ar' or 'en'")
        names[language] = _validate_name_list(items, f"{where}: names.{language}", forms)
    return names, tuple(forms)


def _validate_name_list(value: Any, where: str, forms: list[bytes]) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise EntityFileError(f"{where}: must be a list of names, got {_type_name(value)}")
    if not value:
        raise EntityFileError(f"{where}: the list of names is empty")
    for position, name in enumerate(value):
        if not isinstance(name, str):
            raise EntityFileError(f"{where}[{position}]: must be a string, got {_type_name(name)}")
        form = canonical_form(name)
        if not form:
            raise EntityFileError(
                f"{where}[{position}]: {name!r} normalizes to nothing (no letters or digits)"
            )
        forms.append(form)
    return tuple(value)


def _repeated_key(line: bytes, value: Any) -> str | None:
    """A key given twice in one object of the line (orjson keeps the last one silently), or None.

    Only a line with more key separators than parsed keys is parsed again, with the standard
    library, to tell which key repeats.
    """
    names = value.get("names")
    keys = len(value) + (len(names) if isinstance(names, dict) else 0)
    # Every key is followed by `":` (or `" :`); a string with a quote in it has `\"` instead. More
    # such places than parsed keys (rare: a name with `":` or a repeat) warrant the exact check.
    if line.count(b'":') + line.count(b'" :') - line.count(b'\\":') <= keys:
        return None
    repeated: list[str] = []

    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                repeated.append(key)
            seen.add(key)
        return dict(pairs)

    json.loads(line, object_pairs_hook=pairs_to_dict)
    return repeated[0] if repeated else None


def parse_entity_line(line: bytes, source: str, number: int) -> EntityRecord:
    """One line of an entity file (without its newline)."""
    where = f"{source}:{number}"
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise EntityFileError(f"{where}: invalid JSON: {exc}") from exc
    if isinstance(value, dict):
        repeated = _repeated_key(line, value)
        if repeated is not None:
            raise EntityFileError(f"{where}: key {repeated!r} is given twice")
    return validate_entity(value, where, source, number)


def read_bytes_capped(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; a missing file or one over ``max_bytes`` is an EntityFileError."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise EntityFileError(_too_big(path, size, max_bytes))
            data = handle.read(max_bytes + 1)  # the file may have grown since the size check
    except OSError as exc:
        raise EntityFileError(f"{path}: cannot read the entity file: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise EntityFileError(_too_big(path, len(data), max_bytes))
    return data


def _too_big(path: Path, size: int, max_bytes: int) -> str:
    return (
        f"{path}: the entity file has {size:,} bytes, over the cap of {max_bytes:,} "
        f"(NEWSMON_ENTITY_FILE_MAX_BYTES)"
    )


def parse_entity_file(data: bytes, source: str) -> list[EntityRecord]:
    """Every entity of one file's contents, in order; blank lines are skipped."""
    records: list[EntityRecord] = []
    for number, line in enumerate(data.removeprefix(_BOM).split(b"\n"), start=1):
        if line.strip():
            records.append(parse_entity_line(line, source, number))
    return records


def read_entity_files(
    paths: Sequence[Path], max_bytes: int = DEFAULT_MAX_BYTES, defined: Mapping[str, str] | None = None
) -> list[EntityRecord]:
    """The entities of several files, in order. An id may be defined once: ``defined`` maps ids
    already taken (e.g. by inline entities) to where they were defined."""
    first: dict[str, str] = dict(defined or {})
    records: list[EntityRecord] = []
    for path in paths:
        for record in parse_entity_file(read_bytes_capped(path, max_bytes), str(path)):
            if record.id in first:
                raise EntityFileError(
                    f"{record.where}: id {record.id!r} is already defined at {first[record.id]}"
                )
            first[record.id] = record.where
            records.append(record)
    return records


def resolve_entity_paths(value: Any, base: Path, where: str) -> tuple[Path, ...]:
    """The `entities_files` value (a list of paths relative to the watchlist's directory), resolved."""
    if not isinstance(value, list):
        raise EntityFileError(f"{where}: entities_files: must be a list of paths, got {_type_name(value)}")
    paths: list[Path] = []
    for position, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise EntityFileError(f"{where}: entities_files[{position}]: must be a non-empty path string")
        path = base / item
        if path in paths:
            raise EntityFileError(f"{where}: entities_files[{position}]: {item!r} is listed twice")
        paths.append(path)
    return tuple(paths)


def file_stamps(paths: Iterable[Path]) -> tuple[tuple[int, int] | None, ...]:
    """(mtime, size) of each file, None when missing: a change to any of them means a reload."""
    stamps: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)
