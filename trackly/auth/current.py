"""The signed-in user, from a verified bearer token (one query per request)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Select, bindparam, exists, select
from sqlalchemy.orm import Session

from trackly.auth.tokens import AccessClaims, decode_access_token
from trackly.config import Settings
from trackly.errors import Unauthorized
from trackly.models import RefreshToken, User

SESSION_ENDED = "This session has ended (signed out, password changed or revoked); sign in again."


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Sign in first: send 'Authorization: Bearer <access token>'.")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <access token>'.")
    return token.strip()


@lru_cache(maxsize=1)
def _user_and_session_open() -> Select[User, bool]:
    """The user and whether the token's session is open. Built once: every request runs it."""
    user_id = bindparam("user_id", type_=User.__table__.c.id.type)
    session_open = exists().where(
        RefreshToken.family_id == bindparam("family_id", type_=RefreshToken.__table__.c.family_id.type),
        RefreshToken.user_id == user_id,
        RefreshToken.revoked_at.is_(None),
    )
    return select(User, session_open).where(User.id == user_id)


def authenticate(
    authorization: str | None, *, session: Session, settings: Settings
) -> tuple[User, AccessClaims]:
    """The active user the verified token names, and the token's claims (e.g. its session).

    Every access token the API issues names its sign-in session (`sid`, the refresh-token
    family). The user row and "is that session still open" come back in the same query, so
    logout, logout-all, a password change elsewhere, reuse detection and deactivation end the
    session's access tokens on their next request, not when they expire.
    """
    claims = decode_access_token(bearer_token(authorization), settings)
    row = session.execute(
        _user_and_session_open(), {"user_id": claims.user_id, "family_id": claims.family_id}
    ).one_or_none()
    user, open_session = (row[0], bool(row[1])) if row is not None else (None, False)
    if user is None or not user.is_active:
        raise Unauthorized("This account is not active.")
    if not open_session:
        raise Unauthorized(SESSION_ENDED)
    return user, claims
