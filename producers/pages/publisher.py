"""The source name of an article: the publisher, told by the operator or by the page's canonical host."""

from __future__ import annotations

from urllib.parse import urlsplit


def host_source(url: str) -> str:
    """The host of a URL without a leading ``www.``, or "" for a URL without host."""
    host = (urlsplit(url.strip()).hostname or "").lower()
    return host.removeprefix("www.")


def publisher_source(explicit: str | None, canonical_url: str, fallback: str) -> str:
    """``explicit`` (--source, a feed line's name) if given, else the canonical URL's host, else fallback."""
    return explicit or host_source(canonical_url) or fallback
