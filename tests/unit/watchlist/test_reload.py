"""The one watchlist reloader: swaps on change, keeps the old value when the new file is bad."""

from __future__ import annotations

from pathlib import Path

from streams.watchlist.reload import WatchlistReloader


def build(path: Path) -> str:
    text = path.read_text()
    if "bad" in text:
        raise ValueError(f"{path}: bad")
    return text


def test_reload_swaps_on_change_and_keeps_the_old_value_on_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text("one")
    loaded: list[str] = []
    outcomes: list[str] = []
    reloader = WatchlistReloader(path, build, on_loaded=loaded.append, on_outcome=outcomes.append)
    assert (reloader.current, reloader.reload_if_changed()) == ("one", False)
    path.write_text("second")
    assert (reloader.reload_if_changed(), reloader.current) == (True, "second")
    path.write_text("bad file")
    assert (reloader.reload_if_changed(), reloader.current) == (False, "second")
    assert reloader.reload_if_changed() is False  # the bad file is not retried until it changes again
    assert (loaded, outcomes) == (["one", "second"], ["ok", "error"])


def test_sighup_reload_rebuilds_an_unchanged_file(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text("one")
    builds: list[Path] = []
    reloader = WatchlistReloader(path, lambda p: builds.append(p) or p.read_text())
    assert (reloader.reload(), len(builds)) == (True, 2)
