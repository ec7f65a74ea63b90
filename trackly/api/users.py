"""HTTP functions for user administration."""

from typing import TYPE_CHECKING
from urllib.parse import urlencode

import azure.functions as func

from trackly.auth.policy import Action
from trackly.auth.schemas import UserOut
from trackly.http import Call, Reply, endpoint
from trackly.http.deletion import Deleted
from trackly.lazy import lazy
from trackly.users.schemas import UserCreateIn, UserListQuery, UserPath, UserUpdateIn

if TYPE_CHECKING:
    from trackly.users import service
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    service = lazy("trackly.users.service")

bp = func.Blueprint()


def _link_header(call: Call[None, UserListQuery, None], total: int) -> str:
    q = call.query
    base = {k: v for k, v in (("q", q.q), ("role", q.role.value if q.role else None)) if v}
    if q.include_inactive:
        base["include_inactive"] = "true"

    def link(skip: int, rel: str) -> str:
        return f'<{call.url_for("users")}?{urlencode({**base, "skip": skip, "limit": q.limit})}>; rel="{rel}"'

    last = max(0, (total - 1) // q.limit * q.limit)
    links = [link(0, "first")]
    if q.skip > 0:
        links.append(link(max(0, q.skip - q.limit), "prev"))
    if q.skip + q.limit < total:
        links.append(link(q.skip + q.limit, "next"))
    links.append(link(last, "last"))
    return ", ".join(links)


@endpoint(
    bp,
    "GET",
    "users",
    action=Action.USER_LIST,
    query=UserListQuery,
    response=list[UserOut],
    summary="List users",
    tags=["users"],
    response_headers={
        "X-Total-Count": "How many users match, over all pages.",
        "Link": "RFC 8288 links to the first, previous, next and last pages.",
    },
)
def list_users(call: Call[None, UserListQuery, None]) -> Reply:
    """ADMIN only. A JSON array ordered by creation time; `q` searches name and email. Only
    active users unless `include_inactive=true` (deactivated ones have `is_active: false`)."""
    page = service.list_users(call.query, session=call.session)
    return Reply(
        [UserOut.model_validate(u) for u in page.items],
        headers={"X-Total-Count": str(page.total), "Link": _link_header(call, page.total)},
    )


@endpoint(
    bp,
    "POST",
    "users",
    action=Action.USER_CREATE,
    body=UserCreateIn,
    response=UserOut,
    status=201,
    summary="Create a user",
    tags=["users"],
    errors=(409,),
)
def create_user(call: Call[None, None, UserCreateIn]) -> Reply:
    """ADMIN only. Emails are unique regardless of letter case (409). The email of a deactivated
    user is also a 409, whose `detail` and `user_id` say how to reactivate that account."""
    user = service.create_user(call.body, session=call.session)
    return Reply(UserOut.model_validate(user), headers={"Location": call.url_for(f"users/{user.id}")})


@endpoint(
    bp,
    "GET",
    "users/{user_id:guid}",
    action=Action.USER_READ,
    path=UserPath,
    response=UserOut,
    summary="Get a user",
    tags=["users"],
    errors=(404,),
)
def get_user(call: Call[UserPath, None, None]) -> UserOut:
    """Yourself, or anyone for an ADMIN."""
    return UserOut.model_validate(service.get_user(call.user, call.path.user_id, session=call.session))


def _update(call: Call[UserPath, None, UserUpdateIn]) -> UserOut:
    user = service.update_user(call.user, call.path.user_id, call.body, session=call.session)
    return UserOut.model_validate(user)


_UPDATE_DOC = (
    "Partial update (PUT and PATCH behave the same, for the original frontend). Anyone may change "
    "their own `full_name`; only an ADMIN may change `role` and `is_active`, never their own role "
    "(sending your current role unchanged is accepted). The last active ADMIN cannot be demoted or "
    "deactivated (409)."
)


@endpoint(
    bp,
    "PUT",
    "users/{user_id:guid}",
    action=Action.USER_UPDATE,
    path=UserPath,
    body=UserUpdateIn,
    response=UserOut,
    summary="Update a user",
    tags=["users"],
    errors=(404, 409),
)
def update_user(call: Call[UserPath, None, UserUpdateIn]) -> UserOut:
    return _update(call)


@endpoint(
    bp,
    "PATCH",
    "users/{user_id:guid}",
    action=Action.USER_UPDATE,
    path=UserPath,
    body=UserUpdateIn,
    response=UserOut,
    summary="Update a user (partial)",
    tags=["users"],
    errors=(404, 409),
)
def patch_user(call: Call[UserPath, None, UserUpdateIn]) -> UserOut:
    return _update(call)


@endpoint(
    bp,
    "DELETE",
    "users/{user_id:guid}",
    action=Action.USER_DEACTIVATE,
    path=UserPath,
    response=Deleted,
    summary="Delete (deactivate) a user",
    tags=["users"],
    errors=(404, 409),
)
def delete_user(call: Call[UserPath, None, None]) -> Deleted:
    """ADMIN only. Deactivates the account (its issues keep their creator and show their name),
    revokes its sessions and drops it from `GET /users` (see `include_inactive`). Answers 200
    with `{id, deleted, message}`. The last active ADMIN cannot be deleted (409)."""
    service.deactivate_user(call.user, call.path.user_id, session=call.session)
    return Deleted(
        id=call.path.user_id,
        message="The user was deactivated: they can no longer sign in and are no longer listed.",
    )


update_user.__doc__ = patch_user.__doc__ = _UPDATE_DOC
