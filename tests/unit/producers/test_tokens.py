"""Ingest tokens: the file format, lookups by hash, rate limits and the bind guard (hermetic)."""

from __future__ import annotations

import pytest

from producers.ingest_auth import check_bind
from producers.tokens import (
    Grant,
    RateLimits,
    TokenFileError,
    bearer_token,
    hash_token,
    load_tokens_text,
)

HASH = hash_token("secret")


def test_a_token_is_stored_as_its_sha256() -> None:
    assert HASH == "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"


def test_the_file_maps_hashes_to_grants() -> None:
    text = f"tokens:\n  - {{name: wire, sha256: {HASH.upper()}, sources: [a, b], rate_per_s: 2, burst: 4}}\n"
    assert load_tokens_text(text) == {HASH: Grant("wire", frozenset({"a", "b"}), 2.0, 4)}
    assert Grant("any", frozenset({"*"})).allows("whatever") and not Grant("x", frozenset({"a"})).allows("b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "top-level `tokens:` list"),
        ("tokens: [{sha256: x}]", "token 1: `name` is required"),
        ("tokens: [{name: a, sha256: abc, sources: [s]}]", "token 'a': `sha256` must be 64 hex digits"),
        (f"tokens: [{{name: a, sha256: {HASH}, sources: []}}]", "token 'a': `sources` must be a non-empty list"),
        (f"tokens: [{{name: a, sha256: {HASH}, sources: [s], burst: 0}}]", "`burst` an integer >= 1"),
        (f"tokens: [{{name: a, sha256: {HASH}, sources: [s]}}, {{name: a, sha256: '{'0' * 64}', sources: [s]}}]",
         "name 'a' is used twice"),
        (f"tokens: [{{name: a, sha256: {HASH}, sources: [s]}}, {{name: b, sha256: {HASH}, sources: [s]}}]",
         "token 'b': the same hash as token 'a'"),
        ("tokens: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_with_the_entry_named(text: str, message: str) -> None:
    with pytest.raises(TokenFileError, match=message.replace("[", r"\[").replace("`", "`")):
        load_tokens_text(text)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
    ],
)
def test_bearer_header(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_the_rate_limit_is_a_bucket_of_articles_per_token() -> None:
    limits, grant = RateLimits(), Grant("wire", frozenset({"a"}), rate_per_s=2.0, burst=4)
    assert limits.take(grant, 3, now=0.0) == 0.0
    assert limits.take(grant, 2, now=0.0) == pytest.approx(0.5)  # 1 left, 2 wanted: 0.5 s at 2/s
    assert limits.take(grant, 2, now=0.5) == 0.0
    # A request larger than the burst passes on a full bucket and leaves it in debt.
    assert limits.take(grant, 10, now=100.0) == 0.0
    assert limits.take(grant, 1, now=100.0) == pytest.approx(3.5)  # from -6 to 1 at 2/s
    other = Grant("other", frozenset({"a"}), rate_per_s=2.0, burst=4)
    assert limits.take(other, 4, now=100.0) == 0.0  # buckets are per token
    limits.forget_except(["other"])
    assert set(limits.buckets) == {"other"}


def test_an_open_endpoint_off_loopback_is_refused_unless_insecure() -> None:
    check_bind("127.0.0.1", has_tokens=False, insecure=False)
    check_bind("0.0.0.0", has_tokens=True, insecure=False)
    check_bind("0.0.0.0", has_tokens=False, insecure=True)
    with pytest.raises(SystemExit, match=r"refusing to serve ingest on 0\.0\.0\.0 without tokens"):
        check_bind("0.0.0.0", has_tokens=False, insecure=False)


def test_the_cli_prints_a_token_and_an_entry_the_file_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    from producers.tokens import main

    assert main(["--name", "wire", "--source", "wire-en", "--source", "wire-ar", "--rate", "5"]) == 0
    out = capsys.readouterr().out
    token = out.splitlines()[1].removeprefix("# ")
    assert token.startswith("nmt_") and token not in out.split("\n", 2)[2]
    grants = load_tokens_text(
        "tokens:\n" + "".join(f"  {line}\n" for line in out.split("\n", 2)[2].splitlines())
    )
    assert grants == {hash_token(token): Grant("wire", frozenset({"wire-en", "wire-ar"}), 5.0, 500)}
