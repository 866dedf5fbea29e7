"""Watchlist loading: the default file, and one exact error message per kind of mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streams.watchlist.file import Entity, Watchlist, WatchlistError, load_watchlist, parse_watchlist


def _entities(*items: Any) -> dict[str, Any]:
    return {"entities": list(items)}


MOSUL = {"id": "mosul", "names": {"ar": ["الموصل"], "en": ["Mosul"]}}


def test_default_watchlist_loads() -> None:
    watchlist = load_watchlist("ops/watchlist.yaml")
    ids = [entity.id for entity in watchlist.entities]
    assert ids[:4] == ["isis", "mosul", "raqqa", "baghdad"]
    assert "united_states" in ids
    assert watchlist.rules == []
    assert watchlist.spikes == []
    assert watchlist.webhooks == {}
    assert watchlist.source == "ops/watchlist.yaml"


def test_parse_keeps_names_in_order_and_raw_sections() -> None:
    data = {
        "entities": [MOSUL, {"id": "isis", "names": {"ar": ["داعش"]}}],
        "rules": [{"id": "r1", "when": "isis AND mosul"}],
        "spikes": [{"entity": "isis"}],
        "webhooks": {"ops": {"url": "http://127.0.0.1:9/"}},
    }
    watchlist = parse_watchlist(data, "mem.yaml")
    assert watchlist == Watchlist(
        entities=(
            Entity("mosul", {"ar": ("الموصل",), "en": ("Mosul",)}),
            Entity("isis", {"ar": ("داعش",)}),
        ),
        rules=[{"id": "r1", "when": "isis AND mosul"}],
        spikes=[{"entity": "isis"}],
        webhooks={"ops": {"url": "http://127.0.0.1:9/"}},
        source="mem.yaml",
    )
    assert watchlist.entity_names() == {"mosul": ["الموصل", "Mosul"], "isis": ["داعش"]}
    assert watchlist.matcher().mentions("داعش في الموصل", "Mosul") == {"isis": 1, "mosul": 2}


def test_null_sections_are_empty() -> None:
    watchlist = parse_watchlist({"entities": [MOSUL], "rules": None, "spikes": None, "webhooks": None})
    assert (watchlist.rules, watchlist.spikes, watchlist.webhooks) == ([], [], {})


def test_same_spelling_twice_within_an_entity_is_allowed() -> None:
    watchlist = parse_watchlist(_entities({"id": "erdogan", "names": {"ar": ["أردوغان", "اردوغان"]}}))
    assert watchlist.matcher().mentions("أردوغان", "") == {"erdogan": 1}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["x"], "w.yaml: the top level must be a mapping with an 'entities' key"),
        ({}, "w.yaml: missing required key 'entities' (or 'entities_files')"),
        (
            {"entities": [MOSUL], "alerts": []},
            "w.yaml: unknown top-level key(s) 'alerts'; allowed: digests, entities, entities_files, rules, spikes, strict_names, webhooks",
        ),
        ({"entities": {}}, "w.yaml: entities: must be a list, got dict"),
        ({"entities": []}, "w.yaml: entities: the list is empty"),
        ({"entities": [MOSUL], "rules": {}}, "w.yaml: rules: must be a list, got dict"),
        ({"entities": [MOSUL], "spikes": "x"}, "w.yaml: spikes: must be a list, got str"),
        ({"entities": [MOSUL], "webhooks": []}, "w.yaml: webhooks: must be a mapping, got list"),
        (_entities(MOSUL, "isis"), "w.yaml: entities[1]: must be a mapping, got str"),
        (_entities({"names": {"ar": ["داعش"]}}), "w.yaml: entities[0]: missing 'id'"),
        (
            _entities({"id": 7, "names": {"ar": ["داعش"]}}),
            "w.yaml: entities[0]: id must be a string, got int",
        ),
        (
            _entities(MOSUL, {"id": "Mosul City", "names": {"en": ["x"]}}),
            "w.yaml: entities[1] (id 'Mosul City'): id must match [a-z0-9_-]+",
        ),
        (
            _entities(MOSUL, {"id": "isis", "names": {"ar": ["داعش"]}, "label": "ISIS"}),
            "w.yaml: entities[1] (id 'isis'): unknown key(s) 'label'; allowed: id, names",
        ),
        (_entities({"id": "isis"}), "w.yaml: entities[0] (id 'isis'): missing 'names'"),
        (
            _entities({"id": "isis", "names": ["داعش"]}),
            "w.yaml: entities[0] (id 'isis'): names must be a mapping of language code to a list of names",
        ),
        (_entities({"id": "isis", "names": {}}), "w.yaml: entities[0] (id 'isis'): names is empty"),
        (
            _entities({"id": "isis", "names": {"Arabic": ["داعش"]}}),
            "w.yaml: entities[0] (id 'isis'): names: 'Arabic' is not a language code like 'ar' or 'en'",
        ),
        (
            _entities({"id": "isis", "names": {"ar": "داعش"}}),
            "w.yaml: entities[0] (id 'isis'): names.ar: must be a list of names, got str",
        ),
        (
            _entities({"id": "isis", "names": {"ar": []}}),
            "w.yaml: entities[0] (id 'isis'): names.ar: the list of names is empty",
        ),
        (
            _entities({"id": "isis", "names": {"ar": ["داعش", "  "]}}),
            "w.yaml: entities[0] (id 'isis'): names.ar[1]: empty name",
        ),
        (
            _entities({"id": "isis", "names": {"ar": ["داعش", None]}}),
            "w.yaml: entities[0] (id 'isis'): names.ar[1]: must be a string, got null",
        ),
        (
            _entities({"id": "isis", "names": {"ar": ["«ـَ»"]}}),
            "w.yaml: entities[0] (id 'isis'): names.ar[0]: '«ـَ»' normalizes to nothing (no letters or digits)",
        ),
        (
            _entities(MOSUL, {"id": "x", "names": {"en": ["y"]}}, {"id": "mosul", "names": {"en": ["z"]}}),
            "w.yaml: entities[2] (id 'mosul'): duplicate id, already used by entities[0]",
        ),
        (
            _entities(MOSUL, {"id": "city", "names": {"en": ["Baghdad"], "ar": ["ٱلموصِل"]}})
            | {"strict_names": True},
            "w.yaml: entities[1] (id 'city'): name 'ٱلموصِل' is also a name of entities[0] (id 'mosul') "
            "('الموصل'); both normalize to 'الموصل'",
        ),
    ],
)
def test_errors_name_file_entry_and_problem(data: Any, message: str) -> None:
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(data, "w.yaml")
    assert str(caught.value) == message


def test_a_watchlist_error_is_caught_as_the_value_error_a_reload_rejects() -> None:
    """The reloader keeps the old watchlist on ValueError: a bad file must raise one, with the message."""
    with pytest.raises(
        ValueError, match=r"^w.yaml: missing required key 'entities' \(or 'entities_files'\)$"
    ):
        parse_watchlist({}, "w.yaml")


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("entities: [\n", encoding="utf-8")
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    assert str(caught.value).startswith(f"{path}: invalid YAML: ")


def test_duplicate_yaml_keys_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("entities:\n  - id: a\n    id: b\n    names: {en: [x]}\n", encoding="utf-8")
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    assert str(caught.value).startswith(f"{path}: invalid YAML: ")
    assert "duplicate key 'id'" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "none.yaml"
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    assert str(caught.value).startswith(f"{path}: cannot read the file: ")


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "entities:\n  - id: isis\n    names:\n      ar: [داعش]\n      en: [ISIS, Daesh]\nwebhooks: {}\n",
        encoding="utf-8",
    )
    watchlist = load_watchlist(path)
    assert watchlist.entities == (Entity("isis", {"ar": ("داعش",), "en": ("ISIS", "Daesh")}),)
    assert watchlist.source == str(path)
