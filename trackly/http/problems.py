"""RFC 9457 problem+json documents."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from pydantic import Field

from trackly.schemas import Schema

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://trackly.dev/problems/"


class FieldError(Schema):
    loc: str = Field(description="Where the problem is, e.g. `body.title` or `query.limit`.")
    msg: str = Field(description="What is wrong, as a sentence.")
    type: str = Field(description="A stable machine-readable error code.")


class Problem(Schema):
    """An error response (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


def problem_body(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    request_id: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    doc: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (slug or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        doc["instance"] = instance
    if request_id:
        doc["request_id"] = request_id
    if errors:
        doc["errors"] = errors
    if extra:
        doc.update({k: v for k, v in extra.items() if k not in doc})
    return json.dumps(doc, default=str).encode()
