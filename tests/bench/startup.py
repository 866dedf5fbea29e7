"""Where watchlist start-up goes: parse, validate, compile stages and `python -m streams.tag` end to end.

Run: .venv/bin/python tests/bench/startup.py [--sizes 10000,100000,1000000] [--no-cli]
Each size is a count of names (2 per entity up to 100,000 names, then 5 per entity, as lexicons
have), without shared names; the same lexicon as inline YAML (up to --c-yaml-max) and as a JSON Lines
entity file. Lexicon files are generated once into the bench cache (tests/bench/lexicon.py).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from streams.watchlist.entity_files import read_entity_files  # noqa: E402
from streams.watchlist.file import load_watchlist  # noqa: E402
from tests.bench.lexicon import make_lexicon, write_jsonl, write_yaml  # noqa: E402

CACHE = Path(os.environ.get("NEWSMON_BENCH_CACHE", Path.home() / ".cache" / "newsmon" / "bench"))
T = TypeVar("T")


def entities_for(names: int) -> int:
    return names // 2 if names <= 100_000 else names // 5


def lexicon_files(names: int) -> tuple[Path, Path]:
    """(YAML watchlist, JSON Lines entity file) of one size, without shared names, cached."""
    stem = CACHE / "lexicon" / f"n{names}-noshared"
    yaml_path, jsonl_path = stem.with_suffix(".yaml"), stem.with_suffix(".jsonl")
    if not (yaml_path.exists() and jsonl_path.exists()):
        stem.parent.mkdir(parents=True, exist_ok=True)
        lexicon = make_lexicon(entities_for(names), names, shared=False)
        write_yaml(lexicon, yaml_path)
        write_jsonl(lexicon, jsonl_path)
    return yaml_path, jsonl_path


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 1e6


def _stage(label: str, run: Callable[..., T], *args: Any) -> T:
    gc.collect()
    rss = _rss_mb()
    start = time.perf_counter()
    result = run(*args)
    seconds = time.perf_counter() - start
    print(f"  {label:<44} {seconds:7.2f} s  {_rss_mb() - rss:+8.1f} MB RSS", flush=True)
    return result


def _read_jsonl(path: Path) -> list[Any]:
    with open(path, "rb") as handle:
        return [orjson.loads(line) for line in handle]


def stages(names: int, pure_yaml: bool, c_yaml: bool) -> None:
    yaml_path, jsonl_path = lexicon_files(names)
    print(f"{names} names, {entities_for(names)} entities: YAML {yaml_path.stat().st_size / 1e6:.1f} MB, "
          f"JSONL {jsonl_path.stat().st_size / 1e6:.1f} MB")  # fmt: skip
    if pure_yaml:
        _stage("YAML, pure-Python SafeLoader (before)", yaml.load, yaml_path.read_bytes(), yaml.SafeLoader)
    if c_yaml:
        _stage("YAML watchlist: CSafeLoader + validate", load_watchlist, yaml_path)
    _stage("JSON Lines, orjson only", _read_jsonl, jsonl_path)
    _stage("entity file: orjson + validate + forms", read_entity_files, [jsonl_path])
    watchlist = _stage(
        "watchlist with entities_files (all of the above)", load_watchlist, _entity_watchlist(names)
    )
    matcher = _stage("compile (Matcher.from_forms + C scanner)", watchlist.matcher)
    stats = matcher.stats()
    print(
        f"  {'':<50} {stats.names} names, {stats.patterns} patterns, {stats.scanner_bytes / 1e6:.0f} MB scanner"
    )


def _entity_watchlist(names: int) -> Path:
    """A watchlist whose only key is `entities_files: [the JSON Lines lexicon]`."""
    _, jsonl_path = lexicon_files(names)
    path = jsonl_path.with_suffix(".watchlist.yaml")
    path.write_text(f"entities_files: [{jsonl_path.name}]\n", encoding="utf-8")
    return path


def cli(names: int, watchlist: Path, label: str) -> None:
    """Wall time and peak RSS of `python -m streams.tag` on an empty stdin (load + validate + compile)."""
    command = [sys.executable, "-m", "streams.tag", "--watchlist", str(watchlist)]
    # /usr/bin/time measures a child forked from itself: a child forked from this (large) process
    # would report this process's resident pages as its own peak.
    timed = ["/usr/bin/time", "-f", "%e %U %M"] if Path("/usr/bin/time").exists() else []
    result = subprocess.run(
        [*timed, *command], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        cwd=REPO, check=False, text=True,
    )  # fmt: skip
    if timed:
        seconds, cpu, kilobytes = result.stderr.split()[-3:]
        figures = f"{float(seconds):.2f} s, {float(cpu):.2f} s CPU, peak RSS {int(kilobytes) / 1e3:.0f} MB"
    else:
        figures = "(no /usr/bin/time)"
    print(f"  python -m streams.tag ({label}): {figures}, exit {result.returncode}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="name counts, comma-separated")
    parser.add_argument("--no-cli", action="store_true", help="skip the streams.tag runs")
    parser.add_argument(
        "--pure-yaml-max", type=int, default=100_000, help="largest size timed with SafeLoader"
    )
    parser.add_argument("--c-yaml-max", type=int, default=100_000, help="largest size loaded as inline YAML")
    args = parser.parse_args()
    for names in (int(size) for size in args.sizes.split(",")):
        stages(names, pure_yaml=names <= args.pure_yaml_max, c_yaml=names <= args.c_yaml_max)
        if not args.no_cli:
            if names <= args.c_yaml_max:
                cli(names, lexicon_files(names)[0], "inline YAML")
            cli(names, _entity_watchlist(names), "entities_files")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


if __name__ == "__main__":
    main()
