"""The caller of a request, and its rate-limit count, in one statement per request.

Three kinds of credential reach an endpoint:

- a session access token (a JWT naming its sign-in session): one statement loads the user, says
  whether the session is still open and counts the request under `user:<id>`;
- a personal access token (`trk_...`, trackly.tokens.format): its checksum is checked first (a
  typo never reaches the database), then one statement finds the token by its hash (not
  revoked, not expired), loads its user, stamps `last_used_at` when the stamp is older than a
  minute and counts the request under the same `user:<id>` as the user's sessions;
- none, or one refused before the database (missing, malformed, bad signature): one upsert
  counts the request under the client address (`anonymous:<address>`).

The role and the active flag come from the user row read by that statement, so a role change or
a deactivation takes effect on the next request, whichever credential is used. Every refusal of
a personal access token (malformed, unknown, expired, revoked, or its user deactivated) is the
same 401, so the answer tells a guesser nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    DateTime,
    LargeBinary,
    String,
    Uuid,
    bindparam,
    cast,
    exists,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from trackly import clock, db
from trackly.auth.tokens import AccessClaims, decode_access_token, expired_token_user
from trackly.config import Settings
from trackly.errors import TracklyError, Unauthorized
from trackly.models import ApiToken, RefreshToken, User
from trackly.ratelimit import budget as rl
from trackly.ratelimit.budget import Budget
from trackly.ratelimit.policies import Policy
from trackly.tokens import format as token_format

log = logging.getLogger("trackly.auth")

SESSION_ENDED = "This session has ended (signed out, password changed or revoked); sign in again."
INVALID_PAT = "The personal access token is invalid, expired or revoked."
# last_used_at is written at most this often per token (a write per request would be a hot row).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Sign in first: send 'Authorization: Bearer <access token>'.")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <access token>'.")
    return token.strip()


@dataclass
class Caller:
    """Who is calling (None when refused or anonymous) and the request's budget (None when rate
    limits are off). `error` is the 401 to answer unless the budget is exhausted first."""

    user: User | None = None
    claims: AccessClaims | None = None
    token_id: uuid.UUID | None = None
    budget: Budget | None = None
    error: TracklyError | None = None


# --- the statements (built once; every request runs one of them) ---------------------------------


def _session_open() -> Any:
    return exists().where(
        RefreshToken.family_id == bindparam("family_id", type_=Uuid()),
        RefreshToken.user_id == bindparam("user_id", type_=Uuid()),
        RefreshToken.revoked_at.is_(None),
    )


@lru_cache(maxsize=2)
def _session_statement(counted: bool) -> Any:
    user_id = bindparam("user_id", type_=Uuid())
    if not counted:
        return select(User, _session_open()).where(User.id == user_id)
    hit = rl.hit_statement(rl.subject_param()).cte("hit")
    return (
        select(User, _session_open(), hit.c.hits, hit.c.subject)
        .select_from(hit)
        .outerjoin(User, User.id == user_id)
    )


@lru_cache(maxsize=2)
def _token_statement(counted: bool) -> Any:
    now = bindparam("now", type_=DateTime(timezone=True))
    token = (
        select(ApiToken.id, ApiToken.user_id, ApiToken.scopes)
        .where(
            ApiToken.token_hash == bindparam("pat_hash", type_=LargeBinary()),
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > now,
        )
        .cte("token")
    )
    touch = (
        update(ApiToken)
        .where(
            ApiToken.id == select(token.c.id).scalar_subquery(),
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at <= bindparam("touch_before", type_=DateTime(timezone=True)),
            ),
        )
        .values(last_used_at=now)
        .returning(ApiToken.id)
        .cte("touch")
    )
    if not counted:
        stmt = (
            select(User, token.c.id, token.c.scopes).select_from(token).join(User, User.id == token.c.user_id)
        )
        return stmt.add_cte(touch)
    # The budget is the token's user's, shared with their sessions; an unknown token is counted
    # against the client address like any other failed authentication.
    subject = func.coalesce(
        select(func.concat("user:", cast(token.c.user_id, String))).scalar_subquery(),
        bindparam("anonymous_subject", type_=String(200)),
    )
    hit = rl.hit_statement(subject).cte("hit")
    stmt = (
        select(User, token.c.id, token.c.scopes, hit.c.hits, hit.c.subject)
        .select_from(hit)
        .outerjoin(token, true())
        .outerjoin(User, User.id == token.c.user_id)
    )
    return stmt.add_cte(touch)


# --- identification ------------------------------------------------------------------------------


def identify(
    authorization: str | None,
    *,
    policy: Policy,
    auth: bool,
    client_ip: str,
    session: Callable[[], Session],
    settings: Settings,
    count: bool = True,
) -> Caller:
    """Authenticate (when `auth`) and count the request, in one statement; nothing is raised:
    the endpoint layer answers 429 when `budget.exhausted`, else `error` when set."""
    now = clock.now()
    counted = settings.RATE_LIMIT_ENABLED and count
    anonymous = rl.address_subject(Policy.ANONYMOUS if auth else policy, client_ip)
    if not auth:
        if not counted:
            return Caller()
        try:
            return Caller(budget=_count(policy, anonymous, settings, now))
        except sa_exc.DBAPIError as exc:
            if not isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
                raise
            # The database is unreachable: an anonymous endpoint answers for itself (health says
            # "degraded"; sign-in fails on its own), uncounted, rather than a generic 503.
            log.warning("rate-limit count skipped: database unavailable (%s)", type(exc).__name__)
            return Caller()
    credential = ""
    try:
        credential = bearer_token(authorization)
        if token_format.looks_like_token(credential):
            if not token_format.well_formed(credential):
                raise Unauthorized(INVALID_PAT)
            return _by_token(credential, anonymous, counted, now, session(), settings)
        claims = decode_access_token(credential, settings)
    except Unauthorized as refused:
        if not counted:
            return Caller(error=refused)
        expired_user = expired_token_user(credential, settings) if credential else None
        if expired_user is not None:
            budget = _count(Policy.USER, f"user:{expired_user}", settings, now)
        else:
            budget = _count(Policy.ANONYMOUS, anonymous, settings, now)
        return Caller(budget=budget, error=refused)
    return _by_session(claims, counted, now, session(), settings)


def _count(policy: Policy, subject: str, settings: Settings, now: datetime) -> Budget:
    return rl.count(policy, subject, settings=settings, now=now)


def _budget(policy: Policy, row: Any, start: datetime, settings: Settings, now: datetime) -> Budget:
    subject = str(row.subject)
    # An unknown token was counted against the address: show that budget.
    if not subject.startswith("user:"):
        policy = Policy.ANONYMOUS
    return Budget(
        policy,
        subject,
        start,
        settings.RATE_LIMIT_WINDOW_SECONDS,
        rl.quota(policy, settings),
        int(row.hits),
        now,
    )


def _by_session(
    claims: AccessClaims, counted: bool, now: datetime, session: Session, settings: Settings
) -> Caller:
    start = rl.window_start(now, settings.RATE_LIMIT_WINDOW_SECONDS)
    params: dict[str, Any] = {"user_id": claims.user_id, "family_id": claims.family_id}
    if counted:
        params |= rl.params_for(f"user:{claims.user_id}", start)
    rows = db.execute_first(session, _session_statement(counted), params)
    row: Any = rows[0] if rows else None
    caller = Caller(claims=claims)
    if counted and row is not None:
        caller.budget = _budget(Policy.USER, row, start, settings, now)
    user = row[0] if row is not None else None
    if user is None or not user.is_active:
        caller.error = Unauthorized("This account is not active.")
    elif not row[1]:
        caller.error = Unauthorized(SESSION_ENDED)
    else:
        user.token_scopes = None
        caller.user = user
    return caller


def _by_token(  # noqa: PLR0917 (private, called once)
    token: str, anonymous: str, counted: bool, now: datetime, session: Session, settings: Settings
) -> Caller:
    start = rl.window_start(now, settings.RATE_LIMIT_WINDOW_SECONDS)
    params: dict[str, Any] = {
        "pat_hash": token_format.hash_token(token),
        "now": now,
        "touch_before": now - LAST_USED_RESOLUTION,
    }
    if counted:
        params |= rl.params_for(None, start) | {"anonymous_subject": anonymous}
    rows = db.execute_first(session, _token_statement(counted), params)
    row: Any = rows[0] if rows else None
    caller = Caller()
    if counted and row is not None:
        caller.budget = _budget(Policy.USER, row, start, settings, now)
    user = row[0] if row is not None else None
    if user is None or not user.is_active:
        caller.error = Unauthorized(INVALID_PAT)
        return caller
    user.token_scopes = frozenset(row[2])
    caller.user = user
    caller.token_id = row[1]
    return caller


def authenticate(
    authorization: str | None, *, session: Session, settings: Settings
) -> tuple[User, AccessClaims | None]:
    """The active user of a session or personal access token, uncounted: for an anonymous
    endpoint that also accepts a credential (the request was counted already). Raises 401; the
    claims are None for a personal access token."""
    caller = identify(
        authorization,
        policy=Policy.USER,
        auth=True,
        client_ip="",
        session=lambda: session,
        settings=settings,
        count=False,
    )
    if caller.error is not None or caller.user is None:
        raise caller.error or Unauthorized(INVALID_PAT)
    return caller.user, caller.claims
