"""Who may publish through the ingest endpoint: the token file (reloaded on change), 401/403/429, counted."""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from producers.intake import Intake
from producers.tokens import Grant, RateLimits, TokenFileError, bearer_token, hash_token, load_tokens_text
from streams.model.article import Article
from streams.watchlist.file import file_stamp

log = logging.getLogger(__name__)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class Refusal(Enum):
    """Why a request was refused before publishing; the values are metric labels and `error` fields."""

    MISSING_TOKEN = "missing_token"
    INVALID_TOKEN = "invalid_token"
    SOURCE_NOT_ALLOWED = "source_not_allowed"
    RATE_LIMITED = "rate_limited"


STATUS = {Refusal.MISSING_TOKEN: 401, Refusal.INVALID_TOKEN: 401, Refusal.SOURCE_NOT_ALLOWED: 403,
          Refusal.RATE_LIMITED: 429}  # fmt: skip


class TokenFile:
    """The grants of a token file, re-read when its mtime or size changes (checked per request:
    one stat). A file that became invalid keeps the previous grants and is logged and counted."""

    def __init__(self, path: Path, registry: CollectorRegistry) -> None:
        self.path = path
        self.reloads = Counter("newsmon_producer_ingest_token_reloads", "Token file reloads, by outcome.",
                               ["outcome"], registry=registry)  # fmt: skip
        for outcome in ("ok", "error"):
            self.reloads.labels(outcome=outcome)
        self.stamp = file_stamp(path)
        self.grants = load_tokens_text(path.read_text(encoding="utf-8"))  # a bad file at start is fatal

    def current(self) -> dict[str, Grant]:
        stamp = file_stamp(self.path)
        if stamp != self.stamp:
            self.stamp = stamp
            try:
                self.grants = load_tokens_text(self.path.read_text(encoding="utf-8"))
                self.reloads.labels(outcome="ok").inc()
                log.info("token file %s reloaded: %d tokens", self.path, len(self.grants))
            except (OSError, TokenFileError) as error:
                self.reloads.labels(outcome="error").inc()
                log.error("token file %s rejected, keeping the previous tokens: %s", self.path, error)
        return self.grants


class IngestAuth:
    """Bearer-token checks for POST /articles: `grant()` before the body is read, `admit()` after."""

    def __init__(
        self, tokens: TokenFile, registry: CollectorRegistry, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.tokens = tokens
        self.limits = RateLimits()
        self.clock = clock
        self.refused = Counter("newsmon_producer_ingest_refused", "Ingest requests refused before "
                               "publishing, by reason.", ["reason"], registry=registry)  # fmt: skip
        for reason in Refusal:
            self.refused.labels(reason=reason.value)

    def grant(self, request: web.Request) -> Grant | web.Response:
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            return self.refuse(Refusal.MISSING_TOKEN, "send `Authorization: Bearer <token>`")
        grants = self.tokens.current()
        grant = grants.get(hash_token(token))
        self.limits.forget_except(g.name for g in grants.values())
        if grant is None:
            return self.refuse(Refusal.INVALID_TOKEN, "unknown or revoked token")
        return grant

    def admit(self, grant: Grant, articles: Sequence[Article]) -> web.Response | None:
        """None when the token may publish every article now; else the 403 or 429 response."""
        for article in articles:
            if not grant.allows(article.source):
                return self.refuse(Refusal.SOURCE_NOT_ALLOWED,
                                   f"token {grant.name!r} may not publish as source {article.source!r}")  # fmt: skip
        wait = self.limits.take(grant, len(articles), self.clock())
        if wait > 0:
            response = self.refuse(Refusal.RATE_LIMITED, f"token {grant.name!r} is over "
                                   f"{grant.rate_per_s:g} articles/s; retry in {wait:.1f}s")  # fmt: skip
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        return None

    def refuse(self, reason: Refusal, detail: str) -> web.Response:
        self.refused.labels(reason=reason.value).inc()
        log.warning("ingest refused (%s): %s", reason.value, detail)
        headers = {"WWW-Authenticate": 'Bearer realm="newsmon"'} if STATUS[reason] == 401 else None
        return web.json_response(
            {"error": reason.value, "detail": detail}, status=STATUS[reason], headers=headers
        )


def check_bind(host: str, has_tokens: bool, insecure: bool) -> None:
    """Refuse an open endpoint off loopback: SystemExit with the fix, unless --insecure."""
    if host not in LOOPBACK_HOSTS and not has_tokens and not insecure:
        raise SystemExit(
            f"refusing to serve ingest on {host} without tokens: anyone reaching it could publish; "
            "pass --tokens FILE (NEWSMON_INGEST_TOKENS) or, knowingly, --insecure"
        )


def ingest_auth(args: argparse.Namespace, intake: Intake) -> IngestAuth | None:
    """IngestAuth from `--tokens` (or NEWSMON_INGEST_TOKENS), its metrics beside the intake's."""
    if args.tokens is None:
        return None
    registry = intake.metrics.registry
    return IngestAuth(TokenFile(args.tokens, registry), registry)
