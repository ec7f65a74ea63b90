"""Request and response bodies of personal access tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from trackly import examples as ex
from trackly.auth.policy import Scope
from trackly.auth.schemas import NoNul
from trackly.schemas import RequestModel, Schema

TOKEN_ID = "9c8b7a6f-5e4d-4c3b-a291-8f7e6d5c4b3a"  # noqa: S105 (an id)
# Not a real token: the checksum of this example does not match (it is refused unread).
EXAMPLE_TOKEN = "trk_ExampleExampleExampleExampleExampleExamp000000"  # noqa: S105
TOKEN: dict[str, object] = {
    "id": TOKEN_ID,
    "name": "nightly CSV export",
    "prefix": "trk_Exam",
    "scopes": ["issues:read"],
    "created_at": ex.CREATED_AT,
    "last_used_at": ex.UPDATED_AT,
    "expires_at": "2027-06-01T00:00:00Z",
}


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone offset (for example Z)")
    return value


AwareDateTime = Annotated[datetime, AfterValidator(_aware)]
TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NoNul]


class TokenCreateIn(RequestModel):
    model_config = ex.examples(
        {"name": "nightly CSV export", "scopes": ["issues:read"], "expires_at": "2027-06-01T00:00:00Z"}
    )

    name: TokenName = Field(description="What the token is for, to recognise it in the list.")
    scopes: list[Scope] = Field(
        min_length=1, max_length=len(Scope), description="What the token may be used for."
    )
    expires_at: AwareDateTime = Field(
        description="Required; in the future and at most TOKEN_MAX_DAYS (365) days ahead."
    )


class TokenOut(Schema):
    model_config = ex.examples(TOKEN, from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The token's first characters, to recognise it.")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    expires_at: datetime


class TokenCreatedOut(TokenOut):
    model_config = ex.examples({**TOKEN, "last_used_at": None, "token": EXAMPLE_TOKEN})

    token: str = Field(description="The token itself. Shown only in this answer; only a hash is stored.")


class TokenPath(Schema):
    token_id: uuid.UUID


class UserTokenPath(Schema):
    user_id: uuid.UUID
    token_id: uuid.UUID
