"""Where watchlist start-up goes: parse, validate, compile stages and `python -m streams.tag` end to end.

Run: .venv/bin/python tests/bench/startup.py [--sizes 10000,100000,1000000] [--no-cli]
Each size is a count of names (2 per entity up to 100,000 names, then 5 per entity, as lexicons
have). Lexicon files are generated once into the bench cache (tests/bench/lexicon.py).
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

from streams.matching import matcher as matcher_module  # noqa: E402
from streams.matching.normalize import internal_form  # noqa: E402
from streams.watchlist.file import load_watchlist, parse_watchlist  # noqa: E402
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


def _encode(written: list[tuple[str, str]]) -> list[tuple[bytes, ...]]:
    return [tuple(internal_form(name).split()) for _, name in written]


def _compile(written: list[tuple[str, str]], encoded: list[tuple[bytes, ...]]) -> list[Any]:
    return [matcher_module._compile_name(e, n, t) for (e, n), t in zip(written, encoded, strict=True)]


def stages(names: int, pure_yaml: bool, c_yaml: bool) -> None:
    yaml_path, jsonl_path = lexicon_files(names)
    print(f"{names} names, {entities_for(names)} entities: YAML {yaml_path.stat().st_size / 1e6:.1f} MB, "
          f"JSONL {jsonl_path.stat().st_size / 1e6:.1f} MB")  # fmt: skip
    if pure_yaml:
        _stage("YAML, the loader's SafeLoader subclass", lambda: load_watchlist(yaml_path))
    if c_yaml:
        _stage("YAML, CSafeLoader", lambda: yaml.load(yaml_path.read_bytes(), Loader=yaml.CSafeLoader))
    data = {"entities": _stage("JSON Lines, orjson", lambda: _read_jsonl(jsonl_path))}
    watchlist = _stage("validate (parse_watchlist, tokenize per name)", parse_watchlist, data)
    del data
    entity_names = watchlist.entity_names()
    written = [(entity, name) for entity, names_of in entity_names.items() for name in names_of]
    encoded = _stage("internal_form per name", _encode, written)
    compiled = _stage("_compile_name per name (objects)", _compile, written, encoded)
    tables = _stage("tables (clitic patterns, arrays)", matcher_module._Tables, compiled)
    print(f"  {'':<44} {len(tables.patterns)} patterns")
    _stage("C scanner build", tables.scanner)
    del tables, compiled, encoded
    _stage("Matcher(...) whole", matcher_module.Matcher, entity_names)


def cli(names: int) -> None:
    """Wall time and peak RSS of `python -m streams.tag` on an empty stdin (load + validate + compile)."""
    yaml_path, _ = lexicon_files(names)
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.tag", "--watchlist", str(yaml_path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=REPO,
    )  # fmt: skip
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    print(f"  python -m streams.tag (YAML): {seconds:.2f} s, peak RSS {usage.ru_maxrss / 1e3:.0f} MB, "
          f"exit {os.waitstatus_to_exitcode(status)}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="name counts, comma-separated")
    parser.add_argument("--no-cli", action="store_true", help="skip the streams.tag runs")
    parser.add_argument(
        "--pure-yaml-max", type=int, default=100_000, help="largest size timed with SafeLoader"
    )
    parser.add_argument(
        "--c-yaml-max", type=int, default=1_000_000, help="largest size timed with CSafeLoader"
    )
    args = parser.parse_args()
    for names in (int(size) for size in args.sizes.split(",")):
        stages(names, pure_yaml=names <= args.pure_yaml_max, c_yaml=names <= args.c_yaml_max)
        if not args.no_cli:
            cli(names)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


if __name__ == "__main__":
    main()
