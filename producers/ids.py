"""Article ids: sha256 of the canonical URL, else of title and body (docs/contract.md "Article JSON")."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Parameters that identify a campaign or a click, never the article itself.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
        "spm",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "piwik_")
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_tracking_param(name: str) -> bool:
    """True for query parameters that only track clicks or campaigns."""
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The URL with scheme/host lower-cased, default port, fragment and tracking parameters dropped.

    The remaining query parameters are sorted so that reordered links give the same id. Path case is
    kept: paths are case-sensitive on most servers.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port is not None and DEFAULT_PORTS.get(scheme) != parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        credentials = parts.username + (f":{parts.password}" if parts.password else "")
        host = f"{credentials}@{host}"
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking_param(k)]
    query = urlencode(sorted(params))
    path = parts.path or ("/" if host else "")
    return urlunsplit((scheme, host, path, query, ""))


def sha256_hex(text: str) -> str:
    """Hex sha256 of the UTF-8 encoding of text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def article_id(url: str, title: str, body: str) -> str:
    """The id of an article that came without one: from its canonical URL, else from title and body."""
    if url.strip():
        return sha256_hex(canonical_url(url))
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    return sha256_hex(f"{title}\x00{body}")
