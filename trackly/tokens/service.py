"""Personal access tokens: create (the plaintext is returned once), list, revoke.

- A user creates tokens for themself (with a session, never with another token); an ADMIN
  creates the tokens of service accounts, which cannot sign in to create their own.
- `expires_at` is required, in the future and at most TOKEN_MAX_DAYS ahead.
- Scopes limit a token; they never add to its user's role (trackly.auth.policy.allowed).
- A token of another user answers 404 to a non-admin (existence is not revealed).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trackly import clock
from trackly.auth.policy import Action, Facts, require
from trackly.config import Settings
from trackly.errors import NotFound, Unprocessable
from trackly.models import ApiToken, User
from trackly.tokens import format as token_format
from trackly.tokens.schemas import TokenCreatedOut, TokenCreateIn, TokenOut

UNKNOWN = "There is no such token."


def _check_expiry(expires_at: datetime, settings: Settings) -> None:
    now = clock.now()
    latest = now + timedelta(days=settings.TOKEN_MAX_DAYS)
    if expires_at <= now or expires_at > latest:
        raise Unprocessable(
            f"expires_at must be in the future and at most {settings.TOKEN_MAX_DAYS} days ahead "
            f"(before {latest.isoformat(timespec='seconds')}).",
            errors=[{"loc": "body.expires_at", "msg": "Out of the allowed range.", "type": "value_error"}],
        )


def issue(owner: User, body: TokenCreateIn, *, session: Session, settings: Settings) -> TokenCreatedOut:
    """A new token for `owner` (callers check who may ask for it)."""
    _check_expiry(body.expires_at, settings)
    token = token_format.new_token()
    row = ApiToken(
        id=uuid.uuid4(),
        user_id=owner.id,
        name=body.name,
        token_hash=token_format.hash_token(token),
        prefix=token_format.display_prefix(token),
        scopes=sorted({s.value for s in body.scopes}),
        expires_at=body.expires_at,
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return TokenCreatedOut.model_validate({**TokenOut.model_validate(row).model_dump(), "token": token})


def create_own(actor: User, body: TokenCreateIn, *, session: Session, settings: Settings) -> TokenCreatedOut:
    require(actor, Action.TOKEN_CREATE)
    return issue(actor, body, session=session, settings=settings)


def create_for_service_account(
    actor: User, user_id: uuid.UUID, body: TokenCreateIn, *, session: Session, settings: Settings
) -> TokenCreatedOut:
    require(actor, Action.USER_TOKENS, Facts(owner_id=user_id))
    owner = session.get(User, user_id)
    if owner is None:
        raise NotFound("There is no user with this id.")
    if not owner.is_service:
        raise Unprocessable(
            "Only service accounts get their tokens from an admin; people create their own "
            "(POST /auth/tokens) after signing in."
        )
    if not owner.is_active:
        raise Unprocessable("This service account is deactivated; reactivate it first.")
    return issue(owner, body, session=session, settings=settings)


def _listed(user_id: uuid.UUID, session: Session) -> list[TokenOut]:
    rows = session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    ).all()
    return [TokenOut.model_validate(r) for r in rows]


def list_own(actor: User, *, session: Session) -> list[TokenOut]:
    require(actor, Action.TOKEN_LIST)
    return _listed(actor.id, session)


def list_for_user(actor: User, user_id: uuid.UUID, *, session: Session) -> list[TokenOut]:
    require(actor, Action.USER_TOKENS, Facts(owner_id=user_id))
    if session.get(User, user_id) is None:
        raise NotFound("There is no user with this id.")
    return _listed(user_id, session)


def _revoke(user_id: uuid.UUID, token_id: uuid.UUID, session: Session) -> None:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(UNKNOWN)


def revoke_own(actor: User, token_id: uuid.UUID, *, session: Session) -> None:
    require(actor, Action.TOKEN_REVOKE)
    _revoke(actor.id, token_id, session)


def revoke_for_user(actor: User, user_id: uuid.UUID, token_id: uuid.UUID, *, session: Session) -> None:
    require(actor, Action.USER_TOKENS, Facts(owner_id=user_id))
    _revoke(user_id, token_id, session)


def revoke_all(user_id: uuid.UUID, *, session: Session) -> int:
    """Every token of a user (deactivation)."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
