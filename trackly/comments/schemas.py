"""Request and response bodies of comments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from trackly.http import QueryModel, RequestModel
from trackly.schemas import Schema

BODY_MAX = 10_000

CommentBody = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=BODY_MAX, pattern=r"\S"),
    Field(
        description="Markdown, 1-10,000 characters. `@email` mentions an active user who may see the issue.",
        examples=["Reproduced on 2.3; @maintainer@trackly.com can you look?"],
    ),
]


class CommentCreate(RequestModel):
    body: CommentBody


class CommentUpdate(RequestModel):
    body: CommentBody


class CommentOut(Schema):
    id: uuid.UUID
    issue_id: uuid.UUID
    author_id: uuid.UUID | None = Field(description="Null when the author's account was deleted.")
    author_name: str | None
    body: str
    body_html: str = Field(description="The body rendered from Markdown and sanitized.")
    created_at: datetime
    updated_at: datetime
    edited: bool = Field(description="True once the author changed the body.")
    edited_at: datetime | None
    version: int


class CommentListQuery(QueryModel):
    limit: int = Field(default=50, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Opaque keyset cursor from a `Link: rel=next` header."
    )
