"""What never leaves in telemetry: tokens, passwords, keys, signatures, email addresses.

Applied to every span (attributes, event attributes, status text) and every log record (body
and attributes) before any exporter sees it. Spans are also kept clean at the source (statement
text with bound parameters, route templates instead of URLs), so this is the safety net for
what libraries and exception messages add.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "[redacted]"

# Attribute names whose value is dropped whole (HTTP headers captured by instrumentations, ...).
_SECRET_NAME = re.compile(
    r"authorization|cookie|password|passwd|secret|token|api[-_]?key|access[-_]?key|account[-_]?key"
    r"|signature|x-readiness-key|credential",
    re.IGNORECASE,
)
# Attributes that hold a URL: userinfo dropped, query values masked except these harmless ones.
_URL_NAMES = ("http.url", "url.full", "http.target", "url.query", "az.resource_url")
_SAFE_QUERY = {"api-version", "restype", "comp", "timeout", "include", "prefix", "maxresults"}

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),  # a JWT
    (
        re.compile(
            r"(?i)\b(sig|signature|password|passwd|pwd|secret|token|access_token|refresh_token|"
            r"client_secret|code|accountkey|accesskey|sharedaccesskey)=([^&;\s\"']+)"
        ),
        r"\1=" + MASK,
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    # PostgreSQL's "DETAIL: Key (email)=(someone@...) already exists" names the value itself.
    (re.compile(r"Key \(([^)]*)\)=\([^)]*\)"), r"Key (\1)=(" + MASK + ")"),
)


def text(value: str) -> str:
    for pattern, replacement in _PATTERNS:
        value = pattern.sub(replacement, value)
    return value


def url(value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        return text(value)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode(
        [
            (k, v if k.lower() in _SAFE_QUERY else MASK)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="[]",
    )
    return text(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def value(name: str, item: Any) -> Any:
    if _SECRET_NAME.search(name):
        return MASK
    if isinstance(item, str):
        if name in _URL_NAMES or name.endswith(".url"):
            return url(item) if "://" in item else text(item)
        return text(item)
    if isinstance(item, (list, tuple)):
        return type(item)(value(name, v) for v in item)
    return item


def attributes(attrs: Any) -> dict[str, Any]:
    return {name: value(name, item) for name, item in dict(attrs or {}).items()}
