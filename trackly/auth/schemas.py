"""Request and response bodies of sign-in and account endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from trackly.models import Role


class UserOut(BaseModel):
    """A user as the API shows it (the original Trackly's field names)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int  # seconds until the access token expires


class LoginOut(BaseModel):
    user: UserOut
    tokens: TokenPair
