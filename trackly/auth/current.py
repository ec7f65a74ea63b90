"""The signed-in user, from a verified bearer token (one query per request)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from trackly.auth.tokens import AccessClaims, decode_access_token
from trackly.config import Settings
from trackly.errors import Unauthorized
from trackly.models import User


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Sign in first: send 'Authorization: Bearer <access token>'.")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <access token>'.")
    return token.strip()


def authenticate(
    authorization: str | None, *, session: Session, settings: Settings
) -> tuple[User, AccessClaims]:
    """The active user the verified token names, and the token's claims (e.g. its session)."""
    claims = decode_access_token(bearer_token(authorization), settings)
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("This account is not active.")
    return user, claims
