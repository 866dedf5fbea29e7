"""The common path of every producer: raw fields → validated Article → sink, with counts and logs."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from producers.metrics import ProducerMetrics
from producers.publisher import BufferFull, Sink
from producers.validate import ArticleRejected, Rejection, build_article, decode_json_object
from streams.model.article import Article

log = logging.getLogger(__name__)


@dataclass
class Tally:
    """What one command run did, for the end-of-run summary."""

    read: int = 0
    sent: int = 0
    rejected: Counter[Rejection] = field(default_factory=Counter)

    def summary(self, acked: int, failed: int) -> str:
        """One human line: read, published, rejected by reason."""
        reasons = ", ".join(f"{reason.value}={n}" for reason, n in sorted(self.rejected.items()))
        return (
            f"read {self.read}, published {acked}, send failures {failed}, "
            f"rejected {sum(self.rejected.values())}" + (f" ({reasons})" if reasons else "")
        )


class Intake:
    """Validates inputs and hands them to a sink; a bad input is logged by ``where`` and skipped."""

    def __init__(
        self,
        sink: Sink,
        metrics: ProducerMetrics,
        default_source: str = "",
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.sink = sink
        self.should_stop = should_stop
        self.metrics = metrics
        self.default_source = default_source
        self.tally = Tally()

    def reject(self, where: str, error: ArticleRejected) -> None:
        """Count and log one input that will not be published."""
        self.tally.rejected[error.reason] += 1
        self.metrics.reject(error.reason)
        log.error("%s: rejected (%s): %s", where, error.reason.value, error.detail)

    def prepare(self, fields: Mapping[str, object], where: str) -> Article:
        """A valid article from loose fields (raises ArticleRejected); counts a dropped published_at."""
        article = build_article(fields, where=where, default_source=self.default_source)
        if fields.get("published_at") and article.published_at is None:
            self.metrics.dates_dropped.inc()
        return article

    def accept_fields(self, fields: Mapping[str, object], where: str) -> Article | None:
        """Count one input and validate it; None (logged, counted) when rejected."""
        self.tally.read += 1
        try:
            return self.prepare(fields, where)
        except ArticleRejected as error:
            self.reject(where, error)
            return None

    def accept_json_line(self, raw: bytes, where: str) -> Article | None:
        """Count one JSON Lines line (bytes, maybe not UTF-8) and validate it; None when rejected."""
        try:
            fields = decode_json_object(raw)
        except ArticleRejected as error:
            self.tally.read += 1
            self.reject(where, error)
            return None
        return self.accept_fields(fields, where)

    def send(self, article: Article, where: str, *, wait_when_full: bool = True) -> bool:
        """Hand a valid article to the sink; False when the sink refuses it (oversize, buffer full).

        With ``wait_when_full`` a full send buffer (broker down or slow) is waited out rather than
        dropped: back-pressure reaches the input, until a stop is requested.
        """
        while True:
            try:
                self.sink.send(article)
            except ArticleRejected as error:
                self.reject(where, error)
                return False
            except BufferFull as error:
                if wait_when_full and not self.should_stop():
                    log.warning("%s: send buffer full (%s); still waiting for the broker", where, error)
                    continue
                self.reject(where, ArticleRejected(Rejection.SEND_FAILED, str(error)))
                return False
            self.tally.sent += 1
            return True

    def offer_fields(self, fields: Mapping[str, object], where: str) -> Article | None:
        """Validate and send loose fields; the article, or None when rejected."""
        article = self.accept_fields(fields, where)
        return article if article is not None and self.send(article, where) else None

    def offer_json_line(self, raw: bytes, where: str) -> Article | None:
        """Validate and send one JSON Lines line; the article, or None when rejected."""
        article = self.accept_json_line(raw, where)
        return article if article is not None and self.send(article, where) else None
