"""Signed-in sessions: an access token plus a refresh token in a family, and its rotation.

Password login, signup and single sign-on all end in `start_session`. A *family* is one
sign-in: every refresh token rotated from it shares its `family_id`, and revoking a session
means revoking its family.

Refresh rule (`refresh`), with T the presented token:

1. T unknown, expired, revoked, or its user inactive -> 401 (nothing changes).
2. REFRESH_TOKEN_ROTATION=false and T never rotated -> a new access token; T itself is handed
   back and stays valid until it expires or is revoked (only its hash is stored).
3. T never rotated -> T is marked rotated, a successor in the same family is issued.
4. T rotated at most REFRESH_TOKEN_REUSE_GRACE_SECONDS ago (and the grace is > 0) -> the *same*
   successor as the first time, plus a fresh access token. Only hashes are stored, so a
   successor is derived from T (HMAC with the signing key): a replay can reproduce it and check
   it against the stored hash, while nobody without T can. Replays mint nothing new, so a
   leaked token replayed inside the window gains nothing the first caller did not get.
5. T rotated longer ago than the grace window -> treated as theft: the whole family is revoked
   and the answer is 401. The revocation must be committed even though the request fails, so
   `refresh` returns the error instead of raising it (the handler renders it after commit).

The token row is locked (`SELECT ... FOR UPDATE`), so two concurrent refreshes with the same
token serialize: exactly one rotates it; the other then sees a rotated token and falls under
rule 4 (grace > 0) or rule 5 (grace = 0, which also revokes the winner's new token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trackly import clock
from trackly.auth.schemas import LoginOut, TokenPair, UserOut
from trackly.auth.tokens import create_access_token
from trackly.config import Settings
from trackly.errors import Unauthorized
from trackly.models import RefreshToken, User

INVALID_REFRESH = "The refresh token is invalid, expired or revoked; sign in again."
REUSED_REFRESH = "This refresh token was already used, so the session was ended for safety; sign in again."


def hash_refresh_token(token: str) -> bytes:
    """Refresh tokens are 256-bit random strings, so a plain SHA-256 is a safe lookup hash."""
    return hashlib.sha256(token.encode()).digest()


def successor_of(token: str, settings: Settings) -> str:
    """The refresh token that replaces `token` on rotation (deterministic, see rule 4)."""
    digest = hmac.new(settings.jwt_secret.encode(), b"refresh-successor:" + token.encode(), "sha256")
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def new_refresh_token(
    user: User,
    *,
    session: Session,
    settings: Settings,
    family_id: uuid.UUID | None = None,
    token: str | None = None,
) -> tuple[str, RefreshToken]:
    token = token or secrets.token_urlsafe(32)
    now = clock.now()
    row = RefreshToken(
        id=uuid.uuid4(),
        token_hash=hash_refresh_token(token),
        family_id=family_id or uuid.uuid4(),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
    )
    session.add(row)
    session.flush()
    return token, row


def _pair(user: User, refresh: str, family_id: uuid.UUID, settings: Settings) -> TokenPair:
    return TokenPair(
        access_token=create_access_token(user.id, settings, family_id=family_id),
        refresh_token=refresh,
        expires_in=round(settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60),
    )


def start_session(user: User, *, session: Session, settings: Settings) -> LoginOut:
    """Issue the login response for an authenticated, active user (a new token family)."""
    if user.is_service:  # every sign-in path ends here; a service account has only its tokens
        raise Unauthorized("A service account cannot sign in; use one of its tokens.")
    refresh, row = new_refresh_token(user, session=session, settings=settings)
    return LoginOut(user=UserOut.model_validate(user), tokens=_pair(user, refresh, row.family_id, settings))


@dataclass(frozen=True)
class RefreshResult:
    """Either `tokens` or `error`; an error is returned (not raised) so a revocation commits."""

    tokens: TokenPair | None = None
    error: Unauthorized | None = None


def refresh(token: str, *, session: Session, settings: Settings) -> RefreshResult:
    """Apply the refresh rule in the module docstring."""
    now = clock.now()
    row = session.scalars(
        select(RefreshToken)
        .where(RefreshToken.token_hash == hash_refresh_token(token))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return RefreshResult(error=Unauthorized(INVALID_REFRESH))
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return RefreshResult(error=Unauthorized(INVALID_REFRESH))

    if row.rotated_at is None:
        if not settings.REFRESH_TOKEN_ROTATION:
            return RefreshResult(tokens=_pair(user, token, row.family_id, settings))
        successor, new_row = new_refresh_token(
            user,
            session=session,
            settings=settings,
            family_id=row.family_id,
            token=successor_of(token, settings),
        )
        row.rotated_at = now
        row.replaced_by_id = new_row.id
        session.flush()
        return RefreshResult(tokens=_pair(user, successor, row.family_id, settings))

    grace = settings.REFRESH_TOKEN_REUSE_GRACE_SECONDS
    if grace > 0 and now - row.rotated_at <= timedelta(seconds=grace):
        successor = successor_of(token, settings)
        issued = session.get(RefreshToken, row.replaced_by_id) if row.replaced_by_id else None
        if issued is None or issued.token_hash != hash_refresh_token(successor) or issued.revoked_at:
            return RefreshResult(error=Unauthorized(INVALID_REFRESH))
        return RefreshResult(tokens=_pair(user, successor, row.family_id, settings))

    revoke_family(row.family_id, session=session)
    return RefreshResult(error=Unauthorized(REUSED_REFRESH))


def revoke_family(family_id: uuid.UUID, *, session: Session) -> int:
    """End one sign-in session: revoke every token of the family. Returns the rows changed."""
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_user_families(
    user_id: uuid.UUID, *, session: Session, keep_family: uuid.UUID | None = None
) -> int:
    """Revoke all of a user's refresh tokens (except those of `keep_family`)."""
    stmt = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
    if keep_family is not None:
        stmt = stmt.where(RefreshToken.family_id != keep_family)
    result = session.execute(stmt.values(revoked_at=clock.now()).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
