"""The original SvelteKit client's sign-in flow, unchanged, against the demo users."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.support.api import Api, assert_problem
from trackly.local.demo import DEMO_USERS, seed


def test_demo_users_sign_in(api: Api, engine: Engine) -> None:
    with Session(engine) as session:
        seed(session=session)
        session.commit()
    for demo in DEMO_USERS:
        response = api.post("auth/login", json={"email": demo.email, "password": demo.password})
        assert response.status_code == 200, (demo.email, response.text)
        assert response.json()["user"]["role"] == demo.role.value


def test_refresh_and_retry_with_rotation_off(api: Api, users: Any, settings_env: Any) -> None:
    """The client stores only the first refresh token and calls /auth/refresh with it on
    every 401, reading only `access_token`: this needs REFRESH_TOKEN_ROTATION=false."""
    settings_env(REFRESH_TOKEN_ROTATION="false", ACCESS_TOKEN_EXPIRE_MINUTES="1")
    user = users("ADMIN", email="admin@example.com")
    login = api.post("auth/login", json={"email": "admin@example.com", "password": "password123"}).json()
    stored_refresh = login["tokens"]["refresh_token"]
    for _ in range(3):
        assert_problem(api.as_("expired-or-garbage").get("auth/me"), 401)
        refreshed = api.post("auth/refresh", json={"refresh_token": stored_refresh})
        assert refreshed.status_code == 200, refreshed.text
        retried = api.as_(refreshed.json()["access_token"]).get("users")
        assert retried.status_code == 200
        assert [u["id"] for u in retried.json()] == [str(user.id)]
    # Logout on the original client does nothing; here it really ends the session.
    assert api.post("auth/logout", json={"refresh_token": stored_refresh}).status_code == 204
    assert_problem(api.post("auth/refresh", json={"refresh_token": stored_refresh}), 401)
