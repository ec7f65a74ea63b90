"""Request and response bodies of the single sign-on endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, field_validator

from trackly import examples as ex
from trackly.schemas import QueryModel, RequestModel, Schema

MAX_RETURN_TO = 2048


def check_return_to(value: str) -> str:
    """A frontend path the browser may be sent back to: relative, same origin, no fragment.

    Accepted: `/`, `/issues/123?tab=files`. Refused: `//evil.com`, `/\\evil.com`, `https://...`,
    anything with a backslash, a `#`, whitespace, a control character or a non-ASCII character
    (it ends up in a Location header; percent-encode such characters).
    """
    if not value.startswith("/"):
        raise ValueError("must be a path on the frontend that starts with '/'")
    if value.startswith("//"):
        raise ValueError("must not start with '//' (that would leave the frontend)")
    if "\\" in value:
        raise ValueError("must not contain a backslash")
    if "#" in value:
        raise ValueError("must not contain '#'")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError("must not contain whitespace or control characters")
    if not value.isascii():
        raise ValueError("must be ASCII (percent-encode other characters)")
    return value


class MicrosoftLoginQuery(QueryModel):
    return_to: str = Field(
        default="/",
        max_length=MAX_RETURN_TO,
        description="Frontend path to return to after sign-in, e.g. `/issues`. Must start with a single `/`.",
    )

    @field_validator("return_to")
    @classmethod
    def _safe(cls, value: str) -> str:
        return check_return_to(value)


class MicrosoftCallbackQuery(QueryModel):
    """What the authority appends to the redirect URI (RFC 6749 4.1.2 and 4.1.2.1). The
    authority may add parameters of its own (`iss`, ...), which RFC 6749 says to ignore."""

    refuse_unknown = False

    state: str | None = Field(default=None, max_length=512)
    code: str | None = Field(default=None, max_length=8192)
    error: str | None = Field(default=None, max_length=256)
    error_description: str | None = Field(default=None, max_length=2048)
    session_state: str | None = Field(default=None, max_length=512)
    client_info: str | None = Field(default=None, max_length=4096)


class ExchangeIn(RequestModel):
    model_config = ex.examples({"code": "Xq7tR2mV9bLc4NwZ8kHs1PdY6fJa3Ge5"})

    code: str = Field(min_length=1, max_length=256, description="The one-time code from `#code=` after SSO.")


class GoogleIn(RequestModel):
    model_config = ex.examples(
        {
            "credential": (
                "eyJhbGciOiJSUzI1NiIsImtpZCI6IjFmNDAifQ.eyJpc3MiOiJodHRwczovL2FjY291bnRzLmdvb2dsZS5jb20ifQ.c2lnbmF0dXJl"
            )
        }
    )

    credential: str = Field(
        min_length=1,
        max_length=16384,
        description="The ID token (JWT) that Google Identity Services hands the browser.",
    )


class UserPath(Schema):
    user_id: uuid.UUID


class LinkPath(Schema):
    user_id: uuid.UUID
    link_id: uuid.UUID


class SsoLinkOut(Schema):
    model_config = ex.examples(
        {
            "id": "7c6b5a49-3827-4160-9f8e-7d6c5b4a3928",
            "user_id": ex.REPORTER_ID,
            "provider": "microsoft",
            "subject": "AAAAAAAAAAAAAAAAAAAAAJ3q9k2Lx8Vb1mNc0Qw4Ety",
            "email": "rita@trackly.com",
            "created_at": "2026-10-06T08:00:12Z",
            "last_login_at": "2026-11-24T08:59:30Z",
        },
        from_attributes=True,
    )

    id: uuid.UUID
    user_id: uuid.UUID
    provider: str
    subject: str = Field(description="Microsoft: `<tid>:<oid>`; Google: the `sub` claim.")
    email: str | None
    created_at: datetime
    last_login_at: datetime | None
