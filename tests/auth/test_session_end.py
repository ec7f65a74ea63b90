"""Sessions that end, end now (issue 16, item 4): an access token of a revoked session is
refused on its very next request, not when it expires 30 minutes later."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest
import requests

from tests.conftest import TEST_JWT_SECRET
from tests.support.api import Api, assert_problem
from trackly import clock

PASSWORD = "password123"


def sign_in(api: Api, user: Any) -> dict[str, Any]:
    response = api.post("auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()["tokens"]
    return tokens


def me(api: Api, tokens: dict[str, Any]) -> requests.Response:
    return api.as_(tokens["access_token"]).get("auth/me")


def ended(response: requests.Response) -> None:
    assert_problem(response, 401, "session has ended")


def test_logout_all_ends_every_access_token_now(api: Api, users: Any) -> None:
    user, bystander = users(), users()
    laptop, phone, other = sign_in(api, user), sign_in(api, user), sign_in(api, bystander)
    assert me(api, phone).status_code == 200
    assert api.as_(laptop["access_token"]).post("auth/logout-all").status_code == 204
    ended(me(api, laptop))
    ended(me(api, phone))
    assert me(api, other).status_code == 200


def test_logout_ends_that_sessions_access_token_only(api: Api, users: Any) -> None:
    user = users()
    laptop, phone = sign_in(api, user), sign_in(api, user)
    assert api.post("auth/logout", json={"refresh_token": laptop["refresh_token"]}).status_code == 204
    ended(me(api, laptop))
    assert me(api, phone).status_code == 200


def test_password_change_ends_the_other_devices_access_tokens_now(api: Api, users: Any) -> None:
    user = users()
    here, elsewhere = sign_in(api, user), sign_in(api, user)
    change = api.as_(here["access_token"]).put(
        "auth/password", json={"current_password": PASSWORD, "new_password": "new-password-1"}
    )
    assert change.status_code == 204, change.text
    ended(me(api, elsewhere))
    # The device that changed the password stays signed in, access token included.
    assert me(api, here).status_code == 200


def test_reuse_detection_ends_the_familys_access_tokens_now(api: Api, users: Any) -> None:
    user = users()
    other_device = sign_in(api, user)
    start = clock.now()
    with clock.frozen(start):
        stolen = sign_in(api, user)
        successor = api.post("auth/refresh", json={"refresh_token": stolen["refresh_token"]}).json()
    assert me(api, successor).status_code == 200
    with clock.frozen(start + timedelta(seconds=31)):  # past the 30 s grace window
        reuse = api.post("auth/refresh", json={"refresh_token": stolen["refresh_token"]})
        assert_problem(reuse, 401, "already used")
    ended(me(api, successor))  # the thief's (or the owner's) fresh access token dies with the family
    ended(me(api, stolen))
    assert me(api, other_device).status_code == 200


def test_reactivation_does_not_revive_old_access_tokens(as_admin: Api, api: Api, users: Any) -> None:
    user = users()
    old = sign_in(api, user)
    assert as_admin.delete(f"users/{user.id}").status_code in (200, 204)
    assert_problem(me(api, old), 401)
    reactivated = as_admin.put(f"users/{user.id}", json={"is_active": True})
    assert reactivated.status_code == 200, reactivated.text
    ended(me(api, old))
    assert me(api, sign_in(api, user)).status_code == 200  # a new sign-in works


@pytest.mark.parametrize("how", ["login", "refresh", "signup"])
def test_every_issued_access_token_names_its_session(
    api: Api, users: Any, settings_env: Any, how: str
) -> None:
    """Tokens without `sid` skip the session check, so the API itself must never issue one."""
    if how == "signup":
        settings_env(SIGNUP_ENABLED="true")
        resp = api.post(
            "auth/signup", json={"email": "new@example.com", "password": PASSWORD, "full_name": "New"}
        )
        assert resp.status_code == 201, resp.text
        token = resp.json()["tokens"]["access_token"]
    else:
        tokens = sign_in(api, users())
        if how == "refresh":
            tokens = api.post("auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
        token = tokens["access_token"]
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"], audience="trackly-api")
    assert claims["sid"]
