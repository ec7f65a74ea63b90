"""Request and response bodies of comments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from trackly import examples as ex
from trackly import text
from trackly.schemas import QueryModel, RequestModel, Schema

BODY_MAX = 10_000

CommentBody = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=BODY_MAX, pattern=r"\S"),
    AfterValidator(lambda value: text.visible(value, what="The comment", multiline=True)),
    Field(
        description="Markdown, 1-10,000 characters, at least one visible and no control characters "
        "but newlines and tabs. `@email` mentions an active user who may see the issue.",
        examples=["Reproduced on 2.3; @maintainer@trackly.com can you look?"],
    ),
]


class CommentCreate(RequestModel):
    model_config = ex.examples(
        {"body": "Reproduced on 2.3 with 150 rows; @maintainer@trackly.com can you look?"}
    )

    body: CommentBody


class CommentUpdate(RequestModel):
    model_config = ex.examples({"body": "Reproduced on 2.3 and 2.4 with 150 rows."})

    body: CommentBody


class CommentOut(Schema):
    model_config = ex.examples(
        {
            "id": ex.COMMENT_ID,
            "issue_id": ex.ISSUE_ID,
            "author_id": ex.REPORTER_ID,
            "author_name": ex.REPORTER_NAME,
            "body": "Reproduced on **2.3** and 2.4 with 150 rows.",
            "body_html": "<p>Reproduced on <strong>2.3</strong> and 2.4 with 150 rows.</p>",
            "created_at": "2026-11-24T10:02:11Z",
            "updated_at": "2026-11-24T10:05:48Z",
            "edited": True,
            "edited_at": "2026-11-24T10:05:48Z",
            "version": 2,
        }
    )

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
