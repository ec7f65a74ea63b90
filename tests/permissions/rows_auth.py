"""Permission rows for sign-in and the caller's own account (/auth/*).

The users made by the `users` factory sign in with the password "password123".
"""

from __future__ import annotations

import uuid

from tests.permissions.framework import Ctx, Prepared, Row, expect

PASSWORD = "password123"
EVERY_USER = expect(anonymous=401, reporter=200, maintainer=200, admin=200)


def _own_credentials(ctx: Ctx) -> Prepared:
    user = ctx.user_for(ctx.actor)
    email = user.email if user is not None else "nobody@example.com"
    return Prepared(json={"email": email, "password": PASSWORD})


def _own_refresh_token(ctx: Ctx) -> Prepared:
    user = ctx.user_for(ctx.actor)
    if user is None:
        return Prepared(json={"refresh_token": "not-a-real-refresh-token"})
    response = ctx.api.post("auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return Prepared(json={"refresh_token": response.json()["tokens"]["refresh_token"]})


def _new_account(ctx: Ctx) -> Prepared:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    return Prepared(json={"email": email, "password": PASSWORD, "full_name": "New Person"})


ROWS = [
    Row("login", EVERY_USER, setup=_own_credentials),
    Row("refresh", EVERY_USER, setup=_own_refresh_token),
    Row("logout", expect(anonymous=204, reporter=204, maintainer=204, admin=204), setup=_own_refresh_token),
    Row("logout_all", expect(anonymous=401, reporter=204, maintainer=204, admin=204)),
    Row("me", EVERY_USER),
    Row(
        "change_password",
        expect(anonymous=401, reporter=204, maintainer=204, admin=204),
        json={"current_password": PASSWORD, "new_password": "another-password-1"},
    ),
    Row(
        "signup",
        expect(anonymous=201, reporter=201, maintainer=201, admin=201),
        setup=_new_account,
        settings={"SIGNUP_ENABLED": "true"},
        variant="enabled",
    ),
    Row(
        "signup",
        expect(anonymous=403, reporter=403, maintainer=403, admin=403),
        setup=_new_account,
        settings={"SIGNUP_ENABLED": "false"},
        variant="disabled",
    ),
]
