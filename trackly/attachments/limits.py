"""Size limits and the form of `POST /files/upload` (light: read when the endpoints are declared).

The Functions host refuses request bodies over 100 MB (its default `maxRequestBodySize`), so the
file limit is MAX_ATTACHMENT_BYTES but never more than that minus room for the multipart framing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trackly.config import Settings  # pydantic-settings loads with the first request


HOST_BODY_LIMIT = 100 * 1000 * 1000  # the Functions host's default maxRequestBodySize
MULTIPART_ROOM = 64 * 1024  # boundaries, part headers, a long file name
FIELD = "file"

# The OpenAPI description of the request body.
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [FIELD],
    "properties": {FIELD: {"type": "string", "format": "binary", "description": "The file."}},
}


def max_file_bytes(settings: Settings) -> int:
    return min(settings.MAX_ATTACHMENT_BYTES, HOST_BODY_LIMIT - MULTIPART_ROOM)


def max_request_bytes(settings: Settings) -> int:
    return max_file_bytes(settings) + MULTIPART_ROOM
