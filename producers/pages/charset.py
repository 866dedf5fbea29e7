"""Decoding a page by its own charset: the HTTP header, else the <meta> declaration, else detection."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
# A page must declare its charset in its first 1024 bytes (HTML standard); we look a little further.
META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
PRESCAN_BYTES = 4096


def _known(name: str | None) -> str | None:
    """The codec name Python knows for a declared charset, else None."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None


def declared_charset(content: bytes, content_type: str | None) -> str | None:
    """The charset the server (Content-Type) or the page (<meta>) declares, when Python knows it."""
    if content.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    header = HEADER_CHARSET.search(content_type or "")
    if header and _known(header[1]):
        return _known(header[1])
    meta = META_CHARSET.search(content[:PRESCAN_BYTES])
    return _known(meta[1].decode("ascii", "replace")) if meta else None


def decode_page(content: bytes, content_type: str | None = None) -> str:
    """The page as text: declared charset, else UTF-8 when valid, else the detector's best guess."""
    charset = declared_charset(content, content_type)
    if charset:
        return content.decode(charset, errors="replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        best = from_bytes(content).best()
        return str(best) if best is not None else content.decode("utf-8", errors="replace")
