"""Request and response bodies of sign-in and account endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from trackly import examples as ex
from trackly.auth.passwords import MAX_LENGTH, MIN_LENGTH
from trackly.models import Role
from trackly.schemas import RequestModel, Schema


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL characters; refuse them here (422) instead of failing later.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)

# A deliberately simple shape check; the address is proven by whoever administers the account.
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"),
    NoNul,
]
# New passwords: long enough to matter, short enough that hashing cannot be abused.
NewPassword = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
# Presented passwords: only capped (a too-short one simply does not match).
GivenPassword = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul]
OpaqueToken = Annotated[str, Field(min_length=1, max_length=512)]


class UserOut(Schema):
    """A user as the API shows it (the original Trackly's field names)."""

    model_config = ex.examples(ex.USER, from_attributes=True)

    id: uuid.UUID
    email: str | None = Field(description="Null for service accounts.")
    full_name: str
    role: Role
    is_active: bool
    kind: Literal["human", "service"] = Field(
        default="human", description="`service`: a service account (tokens only, no sign-in)."
    )
    created_at: datetime


class TokenPair(Schema):
    model_config = ex.examples(ex.TOKENS)

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int  # seconds until the access token expires


class LoginOut(Schema):
    model_config = ex.examples({"user": ex.USER, "tokens": ex.TOKENS})

    user: UserOut
    tokens: TokenPair


class LoginIn(RequestModel):
    model_config = ex.examples({"email": "rita@trackly.com", "password": "correct horse battery staple"})

    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320), NoNul]
    password: GivenPassword


class RefreshIn(RequestModel):
    model_config = ex.examples({"refresh_token": ex.TOKENS["refresh_token"]})

    refresh_token: OpaqueToken


class LogoutIn(RequestModel):
    model_config = ex.examples({"refresh_token": ex.TOKENS["refresh_token"]})

    refresh_token: OpaqueToken


class PasswordChangeIn(RequestModel):
    model_config = ex.examples(
        {"current_password": "correct horse battery staple", "new_password": "purple monkey dishwasher 42"}
    )

    current_password: GivenPassword
    new_password: NewPassword


class SignupIn(RequestModel):
    """Self-service sign-up. There is no `role` field: sign-up always creates a REPORTER."""

    model_config = ex.examples(
        {
            "email": "rita@trackly.com",
            "password": "correct horse battery staple",
            "full_name": ex.REPORTER_NAME,
        }
    )

    email: Email
    password: NewPassword
    full_name: FullName
