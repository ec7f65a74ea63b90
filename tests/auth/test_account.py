"""The caller's own account: /auth/me, password change, self-service sign-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api, assert_problem

PASSWORD = "password123"


def sign_in(api: Api, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = api.post("auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()["tokens"]
    return tokens


def test_me_returns_the_caller(as_reporter: Api, reporter: Any) -> None:
    body = as_reporter.get("auth/me").json()
    assert body["id"] == str(reporter.id)
    assert body["role"] == "REPORTER"
    assert body["full_name"] == "Rita Reporter"
    assert "password_hash" not in body


def test_change_password_ends_other_sessions_only(api: Api, users: Any) -> None:
    user = users(email="pw@example.com")
    here = sign_in(api, "pw@example.com")
    elsewhere = sign_in(api, "pw@example.com")
    me = api.as_(here["access_token"])

    assert_problem(
        me.put("auth/password", json={"current_password": "wrong-one", "new_password": "new-password-1"}),
        403,
        "current password",
    )
    assert_problem(me.put("auth/password", json={"current_password": PASSWORD, "new_password": "short"}), 422)
    assert_problem(
        me.put("auth/password", json={"current_password": PASSWORD, "new_password": "x" * 1025}), 422
    )
    response = me.put("auth/password", json={"current_password": PASSWORD, "new_password": "new-password-1"})
    assert response.status_code == 204, response.text

    assert_problem(api.post("auth/login", json={"email": user.email, "password": PASSWORD}), 401)
    sign_in(api, "pw@example.com", "new-password-1")
    assert_problem(api.post("auth/refresh", json={"refresh_token": elsewhere["refresh_token"]}), 401)
    assert api.post("auth/refresh", json={"refresh_token": here["refresh_token"]}).status_code == 200


def test_guessing_the_current_password_is_throttled(api: Api, users: Any) -> None:
    user = users(email="guess@example.com")
    me = api.as_(users.token(user))
    for n in range(5):
        body = {"current_password": f"guess-{n}-xx", "new_password": "new-password-1"}
        assert me.put("auth/password", json=body).status_code == 403
    body = {"current_password": PASSWORD, "new_password": "new-password-1"}
    assert_problem(me.put("auth/password", json=body), 429)


def test_signup_is_off_by_default(api: Api, engine: Engine) -> None:
    body = {"email": "new@example.com", "password": "password123", "full_name": "New Person"}
    assert_problem(api.post("auth/signup", json=body), 403, "disabled")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0


def test_signup_creates_a_reporter_and_signs_in(api: Api, settings_env: Any) -> None:
    settings_env(SIGNUP_ENABLED="true")
    body = {"email": "new@example.com", "password": "password123", "full_name": "New Person"}
    response = api.post("auth/signup", json=body)
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["user"]["role"] == "REPORTER"
    assert out["user"]["email"] == "new@example.com"
    assert api.as_(out["tokens"]["access_token"]).get("auth/me").json()["role"] == "REPORTER"
    duplicate = {**body, "email": "NEW@example.com"}
    assert_problem(api.post("auth/signup", json=duplicate), 409, "already exists")


def test_signup_with_a_role_is_refused_and_creates_nothing(
    api: Api, settings_env: Any, engine: Engine
) -> None:
    settings_env(SIGNUP_ENABLED="true")
    for role in ("ADMIN", "REPORTER"):
        body = {"email": "sneaky@example.com", "password": "password123", "full_name": "S", "role": role}
        problem = assert_problem(api.post("auth/signup", json=body), 422)
        assert any(e["loc"] == "body.role" for e in problem["errors"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0


def test_signup_validates_input(api: Api, settings_env: Any) -> None:
    settings_env(SIGNUP_ENABLED="true")
    assert_problem(
        api.post("auth/signup", json={"email": "not-an-email", "password": "password123", "full_name": "X"}),
        422,
    )
    assert_problem(
        api.post("auth/signup", json={"email": "a@example.com", "password": "short", "full_name": "X"}), 422
    )
    assert_problem(
        api.post("auth/signup", json={"email": "a@example.com", "password": "password123", "full_name": " "}),
        422,
    )


def test_password_change_and_sign_in_count_in_one_account_bucket(api: Api, users: Any) -> None:
    """Both key the account by lower(email) in PostgreSQL, whatever spelling was typed."""
    user = users(email="İlker@example.com")
    me = api.as_(users.token(user))
    for n in range(3):
        response = api.post("auth/login", json={"email": "ilker@example.com", "password": f"guess-{n}-xx"})
        assert_problem(response, 401)
    for n in range(2):
        body = {"current_password": f"guess-{n}-yy", "new_password": "new-password-1"}
        assert_problem(me.put("auth/password", json=body), 403)
    assert_problem(api.post("auth/login", json={"email": "İLKER@example.com", "password": PASSWORD}), 429)


def test_signup_is_throttled_per_client_address(live_server: str, settings_env: Any, engine: Engine) -> None:
    """Every sign-up attempt counts against the client address (created or refused alike), so
    probing which emails have accounts, or creating accounts in bulk, stops after
    4 x LOGIN_MAX_FAILURES attempts per window; another address is not affected."""
    from tests.support.api import session_from

    settings_env(SIGNUP_ENABLED="true", LOGIN_MAX_FAILURES="2")
    prober = Api(live_server, session=session_from("127.0.0.7"))
    statuses = [
        prober.post(
            "auth/signup",
            json={"email": f"probe{n}@example.com", "password": "long enough pass", "full_name": "P"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},  # forged: ignored
        ).status_code
        for n in range(8)
    ]
    assert statuses == [201] * 8
    refused = prober.post(
        "auth/signup", json={"email": "probe9@example.com", "password": "long enough pass", "full_name": "P"}
    )
    assert_problem(refused, 429)
    assert "Retry-After" in refused.headers
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM users WHERE email = 'probe9@example.com'")).scalar() == 0
        )
    other = Api(live_server, session=session_from("127.0.0.8"))
    body = {"email": "someone@example.com", "password": "long enough pass", "full_name": "S"}
    assert other.post("auth/signup", json=body).status_code == 201
