"""Bodies of the unsubscribe and inbound email endpoints."""

from __future__ import annotations

import uuid

from pydantic import Field

from trackly import examples as ex
from trackly.schemas import QueryModel, Schema


class UnsubscribeQuery(QueryModel):
    token: str = Field(min_length=1, max_length=200, description="The signed token from the email's link.")


class UnsubscribeOut(Schema):
    model_config = ex.examples({"unsubscribed": True, "detail": "You will get no more email notifications."})

    unsubscribed: bool
    detail: str


class InboundOut(Schema):
    model_config = ex.examples(
        {"accepted": True, "duplicate": False, "comment_id": ex.COMMENT_ID, "detail": "Added as a comment."}
    )

    accepted: bool = Field(description="Whether the reply became (or already was) a comment.")
    duplicate: bool = Field(description="This Message-ID was handled before; nothing was added.")
    comment_id: uuid.UUID | None
    detail: str
