"""Type stub of the C extension streams/_scan.c (the matcher's hot loop)."""

from collections.abc import Sequence

from typing_extensions import Buffer

# (token start, end, proclitic bytes, name index, tokens)
_Hit = tuple[int, int, int, int, int]

class Scanner:
    def __init__(
        self,
        table: Buffer,
        patterns: Sequence[bytes],
        pattern_targets: Buffer,
        targets: Buffer,
        names: Buffer,
        token_spans: Buffer,
        token_bytes: Buffer,
        stacks: Buffer,
    ) -> None: ...
    def scan(self, title: str, body: str) -> tuple[bytes, list[_Hit]] | None: ...
    def find(self, joined: bytes) -> list[_Hit]: ...
    def memory(self) -> int: ...
