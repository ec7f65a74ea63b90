"""Does an uploaded file's content match its declared type?

Binary types are checked by their magic numbers against a small explicit table: for an
allowlist check we need a yes/no answer for *one* declared type, and a table of seven
signatures is predictable and easy to audit (a general-purpose guesser such as puremagic ranks
many candidate formats by confidence). Types an operator adds to ALLOWED_CONTENT_TYPES that the
table does not know fall back to puremagic's signature database; if it cannot confirm the
type either, the upload is refused rather than trusted.

Text types (text/*, JSON) must be valid UTF-8 without NUL bytes; JSON must also parse.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable

# How many leading bytes the checks need.
HEAD_BYTES = 512

# declared type -> accepted (offset, signature) alternatives
SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "image/png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "image/jpeg": ((0, b"\xff\xd8\xff"),),
    "image/gif": ((0, b"GIF87a"), (0, b"GIF89a")),
    "application/pdf": ((0, b"%PDF-"),),
    # Local file header, empty archive, spanned archive.
    "application/zip": ((0, b"PK\x03\x04"), (0, b"PK\x05\x06"), (0, b"PK\x07\x08")),
}

TEXT_TYPES = frozenset({"text/plain", "text/csv", "application/json"})

_NAMES = {
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "image/gif": "a GIF image",
    "image/webp": "a WebP image",
    "application/pdf": "a PDF document",
    "application/zip": "a ZIP archive",
}


def is_text_type(content_type: str) -> bool:
    return content_type in TEXT_TYPES or content_type.startswith("text/") or content_type.endswith("+json")


def is_json_type(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def describe(content_type: str) -> str:
    return _NAMES.get(content_type, content_type)


def check_head(content_type: str, head: bytes) -> str | None:
    """None when the first bytes fit a binary `content_type`, else the reason they do not."""
    wanted = f"The file's content does not look like {describe(content_type)} (its first bytes do not match)."
    if content_type == "image/webp":
        return None if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else wanted
    signatures = SIGNATURES.get(content_type)
    if signatures is not None:
        ok = any(head[offset : offset + len(sig)] == sig for offset, sig in signatures)
        return None if ok else wanted
    return _check_with_puremagic(content_type, head)


def _check_with_puremagic(content_type: str, head: bytes) -> str | None:
    import puremagic  # only for operator-added types

    try:
        matches = puremagic.magic_string(head)
    except puremagic.PureError:
        matches = []
    if any(getattr(m, "mime_type", "") == content_type for m in matches):
        return None
    return f"The server cannot confirm that the file's content is {content_type}."


def check_text(content_type: str, chunks: Iterable[bytes]) -> str | None:
    """None when the whole stream is UTF-8 text (and JSON parses for JSON types), else a reason."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    want_json = is_json_type(content_type)
    parts: list[str] = []
    try:
        for chunk in chunks:
            text = decoder.decode(chunk)
            if "\x00" in text:
                return "The file is not text: it contains NUL bytes."
            if want_json:
                parts.append(text)
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "The file is not valid UTF-8 text."
    if want_json:
        parts.append(tail)
        try:
            json.loads("".join(parts).lstrip("\ufeff"))
        except (ValueError, RecursionError):
            return "The file is not valid JSON."
    return None
