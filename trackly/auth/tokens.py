"""Access tokens: short-lived HS256 JWTs with explicit issuer, audience and type."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import jwt

from trackly.errors import Unauthorized

if TYPE_CHECKING:
    from trackly.config import Settings

ALGORITHM = "HS256"
ACCESS_TYPE = "access"


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    jti: str
    expires_at: datetime
    # The refresh-token family (sign-in session) this access token was issued for.
    family_id: uuid.UUID


def create_access_token(
    user_id: uuid.UUID,
    settings: Settings,
    *,
    family_id: uuid.UUID,
    now: datetime | None = None,
) -> str:
    """An access token for one sign-in session (`sid`: the refresh-token family).

    There is no session-less variant: `authenticate` checks the session on every request, so
    logout, revocation and a password change end every access token there is.
    """
    issued = now or datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(user_id),
        "iat": issued,
        "nbf": issued,
        "exp": issued + timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES),
        "jti": uuid.uuid4().hex,
        "typ": ACCESS_TYPE,
        "sid": str(family_id),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def decode_access_token(token: str, settings: Settings) -> AccessClaims:
    """Verify signature, algorithm, issuer, audience, expiry, type and session (`sid`); raise
    Unauthorized otherwise."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],  # never trust the token's own `alg`
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            options={"require": ["iss", "aud", "sub", "iat", "exp", "jti", "typ", "sid"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired; refresh it and try again.") from None
    except jwt.PyJWTError:
        raise Unauthorized("The access token is invalid.") from None
    if claims.get("typ") != ACCESS_TYPE:
        raise Unauthorized("The access token is invalid.")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
        family_id = uuid.UUID(str(claims["sid"]))
    except ValueError:
        raise Unauthorized("The access token is invalid.") from None
    return AccessClaims(
        user_id=user_id,
        jti=str(claims["jti"]),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        family_id=family_id,
    )


def expired_token_user(token: str, settings: Settings) -> uuid.UUID | None:
    """The user of a token that is genuine but expired (signature, issuer, audience and type
    right): its requests still count against that user's budget, not against their address, so
    a browser holding a stale token behind a shared address does not use up everyone's."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            options={"verify_exp": False, "require": ["sub", "typ"]},
        )
        if claims.get("typ") != ACCESS_TYPE:
            return None
        return uuid.UUID(str(claims["sub"]))
    except (jwt.PyJWTError, ValueError):
        return None
