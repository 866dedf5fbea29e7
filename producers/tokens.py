"""Ingest bearer tokens: the token file (SHA-256 hashes bound to sources), lookup and per-token rate limits."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
ANY_SOURCE = "*"
DEFAULT_RATE_PER_S = 50.0
DEFAULT_BURST = 500


class TokenFileError(ValueError):
    """The token file is not valid; the message names the entry and the problem."""


@dataclass(frozen=True)
class Grant:
    """What one token may do: publish as `sources` ("*": any), at `rate_per_s` articles with `burst`."""

    name: str
    sources: frozenset[str]
    rate_per_s: float = DEFAULT_RATE_PER_S
    burst: int = DEFAULT_BURST

    def allows(self, source: str) -> bool:
        return ANY_SOURCE in self.sources or source in self.sources


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256 of its UTF-8 bytes (the file never holds a token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe) for `python -m producers.tokens`."""
    return "nmt_" + secrets.token_urlsafe(32)


def parse_tokens(data: Any) -> dict[str, Grant]:
    """`{"tokens": [{name, sha256, sources, rate_per_s?, burst?}, ...]}` as hash -> Grant."""
    if not isinstance(data, Mapping) or not isinstance(data.get("tokens"), list):
        raise TokenFileError("the token file needs a top-level `tokens:` list")
    grants: dict[str, Grant] = {}
    names: set[str] = set()
    for number, entry in enumerate(data["tokens"], start=1):
        grant, digest = _parse_entry(entry, number)
        if grant.name in names:
            raise TokenFileError(f"token {number}: name {grant.name!r} is used twice")
        if digest in grants:
            raise TokenFileError(f"token {grant.name!r}: the same hash as token {grants[digest].name!r}")
        names.add(grant.name)
        grants[digest] = grant
    return grants


def _parse_entry(entry: Any, number: int) -> tuple[Grant, str]:
    if not isinstance(entry, Mapping):
        raise TokenFileError(f"token {number}: expected a mapping")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise TokenFileError(f"token {number}: `name` is required")
    digest = str(entry.get("sha256", "")).lower()
    if not HEX_SHA256.match(digest):
        raise TokenFileError(f"token {name!r}: `sha256` must be 64 hex digits (hash_token of the token)")
    sources = entry.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s for s in sources):
        raise TokenFileError(f'token {name!r}: `sources` must be a non-empty list of source names or "*"')
    rate = entry.get("rate_per_s", DEFAULT_RATE_PER_S)
    burst = entry.get("burst", DEFAULT_BURST)
    if not isinstance(rate, int | float) or rate <= 0 or not isinstance(burst, int) or burst < 1:
        raise TokenFileError(f"token {name!r}: `rate_per_s` must be > 0 and `burst` an integer >= 1")
    return Grant(name, frozenset(sources), float(rate), burst), digest


def load_tokens_text(text: str) -> dict[str, Grant]:
    try:
        return parse_tokens(yaml.load(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError as error:
        raise TokenFileError(f"not valid YAML: {error}") from None


@dataclass
class Bucket:
    """A token bucket in articles: full at `burst`, refilled at `rate_per_s`."""

    rate_per_s: float
    burst: int
    level: float
    updated: float

    def take(self, n: int, now: float) -> float:
        """0.0 when `n` articles may pass now (taken), else the seconds until they may.

        A request larger than the whole burst passes when the bucket is full and leaves it in debt,
        so a big JSON Lines batch is slowed, never refused forever."""
        self.level = min(float(self.burst), self.level + (now - self.updated) * self.rate_per_s)
        self.updated = now
        if self.level >= min(n, self.burst):
            self.level -= n
            return 0.0
        return (min(n, self.burst) - self.level) / self.rate_per_s


@dataclass
class RateLimits:
    """One bucket per token name; a reload that changes a token's limits starts it afresh."""

    buckets: dict[str, Bucket] = field(default_factory=dict)

    def take(self, grant: Grant, n: int, now: float) -> float:
        bucket = self.buckets.get(grant.name)
        if bucket is None or (bucket.rate_per_s, bucket.burst) != (grant.rate_per_s, grant.burst):
            bucket = self.buckets[grant.name] = Bucket(grant.rate_per_s, grant.burst, float(grant.burst), now)
        return bucket.take(n, now)

    def forget_except(self, names: Iterable[str]) -> None:
        keep = set(names)
        for name in [n for n in self.buckets if n not in keep]:
            del self.buckets[name]


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def token_entry(name: str, token: str, sources: list[str], rate_per_s: float, burst: int) -> str:
    """The token file entry (YAML) of a token: its hash, never the token itself."""
    entry = {
        "name": name,
        "sha256": hash_token(token),
        "sources": sources,
        "rate_per_s": rate_per_s,
        "burst": burst,
    }
    return yaml.safe_dump([entry], sort_keys=False, default_style=None)


def main(argv: list[str] | None = None) -> int:
    """`python -m producers.tokens --name wire --source wire-en`: a new token (give it to the client)
    and its entry for the token file (append it under `tokens:`)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m producers.tokens", description=main.__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--source", action="append", required=True, help="repeat for several; * for any")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE_PER_S, help="articles per second")
    parser.add_argument("--burst", type=int, default=DEFAULT_BURST)
    args = parser.parse_args(argv)
    token = new_token()
    sys.stdout.write(f"# token for {args.name} (shown once; the file keeps only its hash):\n# {token}\n")
    sys.stdout.write(token_entry(args.name, token, args.source, args.rate, args.burst))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
