"""The ``http`` producer: POST /articles (one JSON object or JSON Lines) → validated → published."""

from __future__ import annotations

import logging

from aiohttp import web

from producers.ingest_auth import IngestAuth
from producers.intake import Intake
from producers.validate import ArticleRejected, Rejection, decode_json_object, encode_article
from streams.model.article import Article

log = logging.getLogger(__name__)

NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/jsonl", "application/jsonlines", "application/x-jsonlines"}
)
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
INTAKE = web.AppKey("intake", Intake)
MAX_ARTICLE_BYTES = web.AppKey("max_article_bytes", int)
AUTH = web.AppKey("auth", IngestAuth)


class BadLine(Exception):
    """One rejected input of a request, with its 1-based line number (0 for a single object)."""

    def __init__(self, line: int, error: ArticleRejected) -> None:
        super().__init__(error.detail)
        self.line = line
        self.error = error


def error_response(status: int, reason: str, detail: str, line: int = 0) -> web.Response:
    """A JSON error body: reason (bounded), detail (human), line (JSON Lines only)."""
    body: dict[str, object] = {"error": reason, "detail": detail}
    if line:
        body["line"] = line
    return web.json_response(body, status=status)


def _validated(intake: Intake, raw: bytes, line: int, where: str, max_bytes: int) -> Article:
    """One input as an article that fits the size limit, or BadLine."""
    intake.tally.read += 1
    try:
        article = intake.prepare(decode_json_object(raw), where)
        encode_article(article, max_bytes)
    except ArticleRejected as error:
        intake.reject(where, error)
        raise BadLine(line, error) from None
    return article


def validate_body(intake: Intake, body: bytes, ndjson: bool, peer: str, max_bytes: int) -> list[Article]:
    """Every article of a request body, all valid, or BadLine for the first bad one."""
    if not ndjson:
        return [_validated(intake, body, 0, f"http {peer}", max_bytes)]
    articles = [
        _validated(intake, raw.strip(), number, f"http {peer} line {number}", max_bytes)
        for number, raw in enumerate(body.split(b"\n"), start=1)
        if raw.strip()
    ]
    if not articles:
        raise BadLine(0, ArticleRejected(Rejection.EMPTY, "no JSON Lines in the body"))
    return articles


async def post_articles(request: web.Request) -> web.Response:
    """202 {"ids": [...]} when every input is valid and queued; nothing is published otherwise."""
    intake = request.app[INTAKE]
    peer = request.remote or "unknown"
    auth = request.app.get(AUTH)
    grant = auth.grant(request) if auth else None  # 401 before the body is read
    if isinstance(grant, web.Response):
        return grant
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        intake.reject(f"http {peer}", ArticleRejected(Rejection.OVERSIZE, exc.text or "body too large"))
        return error_response(413, Rejection.OVERSIZE.value, exc.text or "request body too large")
    ndjson = request.content_type in NDJSON_TYPES
    try:
        articles = validate_body(intake, body, ndjson, peer, request.app[MAX_ARTICLE_BYTES])
    except BadLine as bad:
        status = 413 if bad.error.reason is Rejection.OVERSIZE else 400
        return error_response(status, bad.error.reason.value, bad.error.detail, bad.line)
    if auth and grant and (refused := auth.admit(grant, articles)):  # 403 source, 429 rate
        return refused
    for article in articles:
        if not intake.send(article, f"http {peer} id {article.id}", wait_when_full=False):
            return error_response(503, Rejection.SEND_FAILED.value, "send buffer full; retry later")
    return web.json_response({"ids": [article.id for article in articles]}, status=202)


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the server answers."""
    return web.json_response({"status": "ok"})


def make_app(
    intake: Intake,
    max_article_bytes: int,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    auth: IngestAuth | None = None,
) -> web.Application:
    """The ingest application; ``max_body_bytes`` bounds a whole request, ``max_article_bytes`` each
    article; with ``auth`` every POST needs a bearer token allowed to publish as its sources."""
    app = web.Application(client_max_size=max_body_bytes)
    if auth is not None:
        app[AUTH] = auth
    app[INTAKE] = intake
    app[MAX_ARTICLE_BYTES] = max_article_bytes
    app.router.add_post("/articles", post_articles)
    app.router.add_get("/healthz", healthz)
    return app
