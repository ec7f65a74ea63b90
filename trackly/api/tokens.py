"""HTTP functions for personal access tokens (docs/tokens.md)."""

from typing import TYPE_CHECKING

import azure.functions as func

from trackly.auth.policy import Action
from trackly.http import Call, Reply, endpoint
from trackly.http.deletion import Deleted
from trackly.lazy import lazy
from trackly.tokens.schemas import TokenCreatedOut, TokenCreateIn, TokenOut, TokenPath, UserTokenPath
from trackly.users.schemas import UserPath

if TYPE_CHECKING:
    from trackly.tokens import service
else:  # imported by the first request that needs it: keeps the ORM out of cold start
    service = lazy("trackly.tokens.service")

bp = func.Blueprint()

TAGS = ["tokens"]
NO_STORE = {"Cache-Control": "no-store"}
REVOKED = "The token was revoked: requests made with it now answer 401."


@endpoint(
    bp,
    "POST",
    "auth/tokens",
    action=Action.TOKEN_CREATE,
    tokens=False,
    body=TokenCreateIn,
    response=TokenCreatedOut,
    status=201,
    summary="Create a personal access token",
    tags=TAGS,
)
def create_token(call: Call[None, None, TokenCreateIn]) -> Reply:
    """Answers the token once (`token`); only its hash is kept. Needs a sign-in session: a
    personal access token cannot create another (403)."""
    created = service.create_own(call.user, call.body, session=call.session, settings=call.settings)
    return Reply(created, headers={**NO_STORE, "Location": call.url_for(f"auth/tokens/{created.id}")})


@endpoint(
    bp,
    "GET",
    "auth/tokens",
    action=Action.TOKEN_LIST,
    response=list[TokenOut],
    read_only=True,
    summary="List the caller's personal access tokens",
    tags=TAGS,
)
def list_tokens(call: Call[None, None, None]) -> list[TokenOut]:
    """Tokens not revoked, newest first (expired ones included until revoked)."""
    return service.list_own(call.user, session=call.session)


@endpoint(
    bp,
    "DELETE",
    "auth/tokens/{token_id:guid}",
    action=Action.TOKEN_REVOKE,
    path=TokenPath,
    response=Deleted,
    summary="Revoke one of the caller's personal access tokens",
    tags=TAGS,
    errors=(404,),
)
def revoke_token(call: Call[TokenPath, None, None]) -> Deleted:
    service.revoke_own(call.user, call.path.token_id, session=call.session)
    return Deleted(id=call.path.token_id, message=REVOKED)


@endpoint(
    bp,
    "GET",
    "users/{user_id:guid}/tokens",
    action=Action.USER_TOKENS,
    path=UserPath,
    response=list[TokenOut],
    read_only=True,
    summary="List a user's personal access tokens",
    tags=TAGS,
    errors=(404,),
)
def list_user_tokens(call: Call[UserPath, None, None]) -> list[TokenOut]:
    """ADMIN only."""
    return service.list_for_user(call.user, call.path.user_id, session=call.session)


@endpoint(
    bp,
    "POST",
    "users/{user_id:guid}/tokens",
    action=Action.USER_TOKENS,
    tokens=False,
    path=UserPath,
    body=TokenCreateIn,
    response=TokenCreatedOut,
    status=201,
    summary="Create a token for a service account",
    tags=TAGS,
    errors=(404,),
)
def create_user_token(call: Call[UserPath, None, TokenCreateIn]) -> Reply:
    """ADMIN only, with a sign-in session. Service accounts cannot sign in, so their tokens come
    from here; a person's account answers 422 (people create their own)."""
    created = service.create_for_service_account(
        call.user, call.path.user_id, call.body, session=call.session, settings=call.settings
    )
    return Reply(created, headers=NO_STORE)


@endpoint(
    bp,
    "DELETE",
    "users/{user_id:guid}/tokens/{token_id:guid}",
    action=Action.USER_TOKENS,
    path=UserTokenPath,
    response=Deleted,
    summary="Revoke a user's personal access token",
    tags=TAGS,
    errors=(404,),
)
def revoke_user_token(call: Call[UserTokenPath, None, None]) -> Deleted:
    """ADMIN only."""
    service.revoke_for_user(call.user, call.path.user_id, call.path.token_id, session=call.session)
    return Deleted(id=call.path.token_id, message=REVOKED)
