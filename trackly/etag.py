"""Entity tags for optimistic concurrency (If-Match / If-None-Match)."""

from __future__ import annotations

from trackly.errors import PreconditionRequired

IF_MATCH_REQUIRED = (
    "This server requires If-Match on writes (REQUIRE_IF_MATCH): send the ETag of your last read "
    "of this resource, or If-Match: * to overwrite whatever is there."
)


def make_etag(*parts: object) -> str:
    """A strong entity tag from the parts that identify one representation."""
    return '"' + "-".join(str(p) for p in parts) + '"'


def parse_tags(header: str | None) -> list[str] | None:
    """Parse an If-Match / If-None-Match header: None when absent, ["*"] for a wildcard.

    Weak tags compare by their opaque part (RFC 9110 weak comparison for If-None-Match;
    for If-Match our tags are always strong, so a W/ prefix simply never matches a stale write).
    """
    if header is None or not header.strip():
        return None
    tags = []
    for raw in header.split(","):
        tag = raw.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag:
            tags.append(tag)
    return tags


def if_match_tags(header: str | None, *, required: bool) -> list[str] | None:
    """The If-Match tags of a write; with `required` (REQUIRE_IF_MATCH) a missing header is a
    428 before anything is read or written, so no client can write without having read."""
    tags = parse_tags(header)
    if tags is None and required:
        raise PreconditionRequired(IF_MATCH_REQUIRED)
    return tags


def matches(current: str, tags: list[str] | None) -> bool:
    return tags is not None and ("*" in tags or current in tags)
