"""HTTP functions for password sign-in, tokens and the caller's own account."""

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import azure.functions as func

from trackly.auth.policy import Action
from trackly.auth.schemas import (
    LoginIn,
    LoginOut,
    LogoutIn,
    PasswordChangeIn,
    RefreshIn,
    SignupIn,
    TokenPair,
    UserOut,
)
from trackly.errors import TracklyError
from trackly.http import Call, Reply, endpoint
from trackly.http.problems import PROBLEM_CONTENT_TYPE, problem_body
from trackly.lazy import lazy
from trackly.ratelimit.policies import Policy

if TYPE_CHECKING:
    from trackly.auth import service
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    service = lazy("trackly.auth.service")

bp = func.Blueprint()

NO_STORE = {"Cache-Control": "no-store"}


def _problem_after_commit(call: Call[Any, Any, Any], error: TracklyError) -> Reply:
    """Answer with a problem document *without raising*, so the request transaction commits
    (used when a refused request must still persist something, e.g. a revoked token family)."""
    body = problem_body(
        error.status,
        error.detail,
        slug=error.slug,
        title=error.title,
        instance=urlsplit(call.request.url).path,
        request_id=call.request_id,
    )
    return Reply(
        body, status=error.status, headers={**error.headers, **NO_STORE}, content_type=PROBLEM_CONTENT_TYPE
    )


@endpoint(
    bp,
    "POST",
    "auth/login",
    auth=False,
    rate_limit=Policy.SIGN_IN,
    body=LoginIn,
    response=LoginOut,
    summary="Sign in with email and password",
    tags=["auth"],
    errors=(401, 429),
)
def login(call: Call[None, None, LoginIn]) -> Reply:
    """Wrong email, wrong password and inactive accounts all answer the same 401. After
    LOGIN_MAX_FAILURES failed attempts per account (4x that per client IP) within
    LOGIN_FAILURE_WINDOW_MINUTES the answer is 429 with Retry-After, with exponential back-off."""
    result = service.login(
        call.body.email,
        call.body.password,
        client_ip=call.client_ip,
        session=call.session,
        settings=call.settings,
    )
    return Reply(result, headers=NO_STORE)


@endpoint(
    bp,
    "POST",
    "auth/refresh",
    auth=False,
    rate_limit=Policy.SIGN_IN,
    body=RefreshIn,
    response=TokenPair,
    summary="Exchange a refresh token for new tokens",
    tags=["auth"],
    errors=(401,),
)
def refresh(call: Call[None, None, RefreshIn]) -> Reply:
    """Rotates the refresh token (unless REFRESH_TOKEN_ROTATION=false). A rotated token presented
    again within REFRESH_TOKEN_REUSE_GRACE_SECONDS gets a new sibling token; later, it revokes
    the whole session (401)."""
    result = service.refresh(call.body.refresh_token, session=call.session, settings=call.settings)
    if result.error is not None:
        return _problem_after_commit(call, result.error)
    return Reply(result.tokens, headers=NO_STORE)


@endpoint(
    bp,
    "POST",
    "auth/logout",
    auth=False,
    rate_limit=Policy.SIGN_IN,
    body=LogoutIn,
    status=204,
    summary="Sign out: revoke this refresh token's session",
    tags=["auth"],
)
def logout(call: Call[None, None, LogoutIn]) -> None:
    """Always 204: an unknown or already revoked token is not an error."""
    service.logout(call.body.refresh_token, session=call.session)


@endpoint(
    bp,
    "POST",
    "auth/logout-all",
    action=Action.SELF_UPDATE,
    tokens=False,
    status=204,
    summary="Sign out everywhere: revoke all of the caller's sessions",
    tags=["auth"],
)
def logout_all(call: Call[None, None, None]) -> None:
    service.revoke_all_sessions(call.user.id, session=call.session)


@endpoint(
    bp,
    "GET",
    "auth/me",
    action=Action.SELF_READ,
    response=UserOut,
    read_only=True,
    summary="The signed-in user",
    tags=["auth"],
)
def me(call: Call[None, None, None]) -> UserOut:
    return UserOut.model_validate(call.user)


@endpoint(
    bp,
    "PUT",
    "auth/password",
    action=Action.SELF_UPDATE,
    tokens=False,
    body=PasswordChangeIn,
    status=204,
    summary="Change the caller's password",
    tags=["auth"],
    errors=(429,),
)
def change_password(call: Call[None, None, PasswordChangeIn]) -> None:
    """403 when the current password is wrong. Ends the caller's other sessions; the session
    the access token belongs to stays signed in."""
    assert call.claims is not None  # declared with auth: the endpoint layer verified the token
    service.change_password(
        call.user,
        call.body,
        current_family=call.claims.family_id,
        client_ip=call.client_ip,
        session=call.session,
        settings=call.settings,
    )


@endpoint(
    bp,
    "POST",
    "auth/signup",
    auth=False,
    rate_limit=Policy.SIGN_IN,
    body=SignupIn,
    response=LoginOut,
    status=201,
    summary="Create a REPORTER account (when SIGNUP_ENABLED=true)",
    tags=["auth"],
    errors=(403, 409, 429),
)
def signup(call: Call[None, None, SignupIn]) -> Reply:
    """Always creates a REPORTER; a `role` field is refused (422). 403 while sign-up is off;
    429 after too many sign-up attempts from one client address."""
    created = service.signup(
        call.body, client_ip=call.client_ip, session=call.session, settings=call.settings
    )
    return Reply(created, headers=NO_STORE)
