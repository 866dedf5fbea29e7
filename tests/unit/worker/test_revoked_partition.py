"""A partition revoked between assignment() and a per-partition call must not crash a timer."""

from __future__ import annotations

from types import SimpleNamespace

from aiokafka.errors import IllegalStateError
from faust.types import TP

from streams.worker.faust_shims import caught_up_partitions, highwater_of

ARTICLES = "news.articles"


class RevokingConsumer:
    """Partition 1 is revoked by the consumer thread right after assignment() listed it."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self._committed_offset = {TP(ARTICLES, 0): 9, TP(ARTICLES, 1): 9}

    def assignment(self) -> set[TP]:
        return {TP(ARTICLES, 0), TP(ARTICLES, 1)}

    def highwater(self, tp: TP) -> int:
        if tp.partition == 1:
            raise self.error
        return 9


def test_a_revoked_partition_has_no_high_watermark_and_is_not_caught_up() -> None:
    for error in (AssertionError("Partition is not assigned"), IllegalStateError("not assigned")):
        app = SimpleNamespace(consumer=RevokingConsumer(error))
        assert highwater_of(app, TP(ARTICLES, 1)) is None  # type: ignore[arg-type]
        assert caught_up_partitions(app, ARTICLES) == [0]  # type: ignore[arg-type]
