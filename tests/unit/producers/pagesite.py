"""A loopback news site for the full-text tests: a summary-only feed whose pages hold the seed's text."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC
from html import escape
from pathlib import Path

from aiohttp import web

from producers.scraped import parse_scraped_text

SEED = (
    Path(__file__).resolve().parents[3] / "ops" / "sample" / "seed" / "article-2016-10-22-carter-ankara.txt"
)
SEED_PAGE = parse_scraped_text(SEED.read_text(encoding="utf-8"), UTC)
ARABIC_FOR_1256 = "بغداد: اجتماع وزراء الخارجية العرب لبحث الأوضاع في العراق وسوريا"


def seed_paragraphs() -> list[str]:
    """The seed's body in paragraphs of three sentences, as a news page would set it."""
    sentences = re.split(r"(?<=\.) ", SEED_PAGE.body)
    return [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]


def article_html(
    title: str, paragraphs: list[str], *, canonical: str = "", head: str = "", charset: str = "utf-8"
) -> str:
    """A news page: head metadata, navigation and footer furniture around one <article>."""
    link = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="{charset}"><title>{escape(title)} | الموقع</title>'
        f'<meta property="og:title" content="{escape(title)}">{link}{head}</head><body>'
        '<nav><a href="/">الرئيسية</a> | <a href="/world">العالم</a> | <a href="/sport">رياضة</a></nav>'
        f"<article><h1>{escape(title)}</h1>{body}</article>"
        "<footer>مشاركة : فيسبوك تويتر © 2016 جميع الحقوق محفوظة</footer></body></html>"
    )


def published_meta(value: str) -> str:
    return f'<meta property="article:published_time" content="{value}">'


@dataclass
class Site:
    """Counts what the fetcher did to the site."""

    base: str = ""
    hits: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0


def feed_xml(site: Site, entries: list[tuple[str, str]]) -> str:
    items = "".join(
        f"<item><title>{escape(title)}</title><link>{site.base}{path}</link>"
        f"<pubDate>Sat, 22 Oct 2016 10:00:00 +0300</pubDate>"
        f"<description>{escape(SEED_PAGE.body.split('. ')[0])}.</description></item>"
        for path, title in entries
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title><language>ar</language>{items}</channel></rss>'


ENTRIES = [
    ("/news/1", "الخبر الأول"),
    ("/news/2", "الخبر الثاني"),
    ("/news/3", "الخبر الثالث"),
    ("/missing", "صفحة مفقودة"),
    ("/private/secret", "صفحة ممنوعة"),
    ("/huge", "صفحة ضخمة"),
    ("/slow", "صفحة بطيئة"),
    ("/cp1256", "صفحة بترميز ويندوز"),
    ("/2016/10/22/dated", "رابط مؤرخ"),
    ("/date-only", "تاريخ بلا وقت"),
    ("/to-ftp", "تحويل ممنوع"),
]


def make_site_app(site: Site) -> web.Application:
    async def count(request: web.Request, handler: object) -> web.StreamResponse:
        site.hits[request.path] = site.hits.get(request.path, 0) + 1
        site.in_flight += 1
        site.max_in_flight = max(site.max_in_flight, site.in_flight)
        try:
            return await handler(request)  # type: ignore[operator]
        finally:
            site.in_flight -= 1

    def html(text: str) -> web.Response:
        return web.Response(text=text, content_type="text/html")

    async def feed(_r: web.Request) -> web.Response:
        return web.Response(text=feed_xml(site, ENTRIES), content_type="application/rss+xml")

    async def tracking_feed(_r: web.Request) -> web.Response:
        return web.Response(
            text=feed_xml(site, [("/click?to=1", "نفس الخبر من خلاصة أخرى")]),
            content_type="application/rss+xml",
        )

    async def robots(_r: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /private/\n")

    async def news(r: web.Request) -> web.Response:
        n = r.match_info["n"]
        return html(
            article_html(
                f"الخبر رقم {n}",
                seed_paragraphs(),
                canonical=f"{site.base}/news/{n}?utm_source=rss",
                head=published_meta("2016-10-22T10:00:00+03:00"),
            )
        )

    async def click(_r: web.Request) -> web.Response:
        raise web.HTTPFound(f"{site.base}/news/1?utm_campaign=other&fbclid=x")

    async def huge(_r: web.Request) -> web.Response:
        return html("<html><body><p>" + "ا" * (5 * 1024 * 1024) + "</p></body></html>")  # 10 MB of UTF-8

    async def slow(_r: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return html(article_html("بطيئة", seed_paragraphs()))

    async def cp1256(_r: web.Request) -> web.Response:
        page = article_html(
            ARABIC_FOR_1256,
            [ARABIC_FOR_1256 + ". " + p for p in seed_paragraphs()[:2]],
            charset="windows-1256",
        )
        return web.Response(body=page.encode("cp1256", errors="replace"), content_type="text/html")

    async def dated(_r: web.Request) -> web.Response:
        return html(
            article_html(
                "مؤرخ",
                seed_paragraphs(),
                canonical=f"{site.base}/2016/10/22/dated",
                head=published_meta("2016-10-22T09:30:00+03:00"),
            )
        )

    async def date_only(_r: web.Request) -> web.Response:
        return html(article_html("يوم فقط", seed_paragraphs(), head=published_meta("2016-10-22")))

    async def to_ftp(_r: web.Request) -> web.Response:
        raise web.HTTPFound("ftp://127.0.0.1/file")

    async def missing(_r: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    app = web.Application(middlewares=[web.middleware(count)])
    for path, handler in [
        ("/feed.xml", feed), ("/tracking.xml", tracking_feed), ("/robots.txt", robots), ("/news/{n}", news),
        ("/click", click), ("/huge", huge), ("/slow", slow), ("/cp1256", cp1256), ("/2016/10/22/dated", dated),
        ("/date-only", date_only), ("/to-ftp", to_ftp), ("/missing", missing), ("/private/secret", dated),
    ]:  # fmt: skip
        app.router.add_get(path, handler)
    return app
