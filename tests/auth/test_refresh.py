"""Refresh tokens: hashed storage, rotation, the grace rule, reuse detection and family
revocation, concurrent refreshes, REFRESH_TOKEN_ROTATION=false, logout and logout-all."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from typing import Any

import jwt
import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.conftest import TEST_JWT_SECRET
from tests.support.api import Api, assert_problem
from trackly import clock

PASSWORD = "password123"


def sign_in(api: Api, user: Any) -> dict[str, Any]:
    response = api.post("auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()["tokens"]
    return tokens


def refresh(api: Api, token: str) -> requests.Response:
    return api.post("auth/refresh", json={"refresh_token": token})


def test_tokens_are_stored_hashed_and_rotate(api: Api, users: Any, engine: Engine) -> None:
    user = users()
    first = sign_in(api, user)["refresh_token"]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM refresh_tokens")).scalars().all()
    assert [bytes(h) for h in stored] == [hashlib.sha256(first.encode()).digest()]

    response = refresh(api, first)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    second = body["refresh_token"]
    assert second != first
    assert api.as_(body["access_token"]).get("auth/me").json()["id"] == str(user.id)
    assert refresh(api, second).status_code == 200
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(DISTINCT family_id), count(*) FROM refresh_tokens")).one()
    assert tuple(rows) == (1, 3)


def test_reuse_after_the_grace_window_revokes_the_whole_family(api: Api, users: Any) -> None:
    user = users()
    other_device = sign_in(api, user)["refresh_token"]
    start = clock.now()
    with clock.frozen(start):
        stolen = sign_in(api, user)["refresh_token"]
        successor = refresh(api, stolen).json()["refresh_token"]
    with clock.frozen(start + timedelta(seconds=31)):
        assert_problem(refresh(api, stolen), 401, "already used")
        # The legitimate holder's successor dies with the family ...
        assert_problem(refresh(api, successor), 401)
        # ... but the user's other sign-in (another family) is untouched.
        assert refresh(api, other_device).status_code == 200


def test_reuse_within_the_grace_window_gets_the_same_successor(api: Api, users: Any, engine: Engine) -> None:
    """Two tabs refreshing at once both end up with the one successor: a replay inside the
    grace window mints no new refresh token (before: a new sibling per replay)."""
    user = users()
    start = clock.now()
    with clock.frozen(start):
        original = sign_in(api, user)["refresh_token"]
        successor = refresh(api, original).json()["refresh_token"]
    with clock.frozen(start + timedelta(seconds=30)):
        replays = [refresh(api, original) for _ in range(3)]
        assert all(r.status_code == 200 for r in replays), [r.text for r in replays]
        assert {r.json()["refresh_token"] for r in replays} == {successor}
        assert all(r.json()["access_token"] for r in replays)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT count(*) FROM refresh_tokens WHERE user_id = :u"), {"u": user.id}
            ).scalar_one()
        assert rows == 2  # the original and its successor, nothing minted by the replays
        assert refresh(api, successor).status_code == 200


def test_grace_window_is_configurable(api: Api, users: Any, settings_env: Any) -> None:
    settings_env(REFRESH_TOKEN_REUSE_GRACE_SECONDS="0")
    user = users()
    original = sign_in(api, user)["refresh_token"]
    successor = refresh(api, original).json()["refresh_token"]
    assert_problem(refresh(api, original), 401)
    assert_problem(refresh(api, successor), 401)


def _race(api: Api, token: str, n: int = 2) -> list[requests.Response]:
    barrier = threading.Barrier(n)
    results: list[requests.Response] = []
    lock = threading.Lock()

    def worker() -> None:
        client = Api(api.base_url, session=requests.Session())
        barrier.wait()
        response = refresh(client, token)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_refreshes_without_grace_exactly_one_wins(
    api: Api, users: Any, settings_env: Any, engine: Engine
) -> None:
    settings_env(REFRESH_TOKEN_REUSE_GRACE_SECONDS="0")
    user = users()
    token = sign_in(api, user)["refresh_token"]
    results = _race(api, token)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 401], [r.text for r in results]
    winner = next(r for r in results if r.status_code == 200).json()["refresh_token"]
    # The loser's attempt is a reuse of a rotated token: the family (winner's token too) is gone.
    assert_problem(refresh(api, winner), 401)
    with engine.connect() as conn:
        live = conn.execute(text("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")).scalar()
    assert live == 0


def test_concurrent_refreshes_within_grace_all_get_the_one_successor(api: Api, users: Any) -> None:
    user = users()
    token = sign_in(api, user)["refresh_token"]
    results = _race(api, token, n=3)
    assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
    issued = {r.json()["refresh_token"] for r in results}
    assert len(issued) == 1
    assert refresh(api, issued.pop()).status_code == 200


def test_rotation_off_keeps_the_token_valid_until_logout(
    api: Api, users: Any, settings_env: Any, engine: Engine
) -> None:
    """What the original frontend needs: it never stores a rotated refresh token."""
    settings_env(REFRESH_TOKEN_ROTATION="false")
    user = users()
    token = sign_in(api, user)["refresh_token"]
    for _ in range(3):
        response = refresh(api, token)
        assert response.status_code == 200
        assert response.json()["refresh_token"] == token
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM refresh_tokens")).scalars().all()
    assert [bytes(h) for h in stored] == [hashlib.sha256(token.encode()).digest()]
    assert api.post("auth/logout", json={"refresh_token": token}).status_code == 204
    assert_problem(refresh(api, token), 401)


def test_expired_refresh_token(api: Api, users: Any) -> None:
    user = users()
    token = sign_in(api, user)["refresh_token"]
    with clock.frozen(clock.now() + timedelta(days=7, seconds=1)):
        assert_problem(refresh(api, token), 401, "sign in again")


def test_unknown_and_malformed_refresh_tokens(api: Api) -> None:
    assert_problem(refresh(api, "not-a-token"), 401)
    assert_problem(api.post("auth/refresh", json={}), 422)
    assert_problem(api.post("auth/refresh", json={"refresh_token": "x" * 600}), 422)


def test_deactivated_user_cannot_refresh(api: Api, users: Any, engine: Engine) -> None:
    user = users()
    token = sign_in(api, user)["refresh_token"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": user.id})
    assert_problem(refresh(api, token), 401)


def test_logout_revokes_only_that_family(api: Api, users: Any) -> None:
    user = users()
    laptop = sign_in(api, user)["refresh_token"]
    phone = sign_in(api, user)["refresh_token"]
    rotated = refresh(api, laptop).json()["refresh_token"]
    assert api.post("auth/logout", json={"refresh_token": laptop}).status_code == 204
    assert_problem(refresh(api, rotated), 401)
    assert refresh(api, phone).status_code == 200
    # Unknown or repeated logouts are not errors.
    assert api.post("auth/logout", json={"refresh_token": laptop}).status_code == 204
    assert api.post("auth/logout", json={"refresh_token": "unknown"}).status_code == 204


def test_logout_all_revokes_every_family(api: Api, users: Any) -> None:
    user = users()
    other = users()
    a = sign_in(api, user)
    b = sign_in(api, user)
    c = sign_in(api, other)
    assert api.as_(a["access_token"]).post("auth/logout-all").status_code == 204
    assert_problem(refresh(api, a["refresh_token"]), 401)
    assert_problem(refresh(api, b["refresh_token"]), 401)
    assert refresh(api, c["refresh_token"]).status_code == 200
    assert_problem(api.post("auth/logout-all"), 401)


def test_refreshed_access_token_belongs_to_the_same_session(api: Api, users: Any) -> None:
    user = users()
    tokens = sign_in(api, user)
    again = refresh(api, tokens["refresh_token"]).json()
    sid = [
        jwt.decode(t, TEST_JWT_SECRET, algorithms=["HS256"], audience="trackly-api")["sid"]
        for t in (tokens["access_token"], again["access_token"])
    ]
    assert sid[0] == sid[1]
