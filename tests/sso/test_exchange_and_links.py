"""One-time codes (POST /auth/exchange) and the admin view of SSO links."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.sso.harness import GoogleKeys
from tests.support.api import Api, assert_problem
from trackly import clock
from trackly.sso import codes


def _code_for(engine: Any, user: Any) -> str:
    with Session(engine) as session:
        code = codes.issue_code(user.id, session=session)
        session.commit()
    return code


def test_code_is_stored_hashed_and_works_once(api: Api, users: Any, engine: Any) -> None:
    user = users("REPORTER")
    code = _code_for(engine, user)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT code_hash, expires_at - created_at AS ttl FROM login_codes")).one()
    assert bytes(row.code_hash) == codes.hash_code(code) and code.encode() not in bytes(row.code_hash)
    assert row.ttl == timedelta(seconds=60)
    first = api.post("auth/exchange", json={"code": code})
    assert first.status_code == 200, first.text
    assert first.json()["user"]["id"] == str(user.id)
    assert first.headers["Cache-Control"] == "no-store"  # it carries tokens
    assert_problem(api.post("auth/exchange", json={"code": code}), 401, "already used")


def test_expired_code_is_refused(api: Api, users: Any, engine: Any) -> None:
    code = _code_for(engine, users("REPORTER"))
    with clock.frozen(datetime.now(UTC) + timedelta(seconds=61)):
        assert_problem(api.post("auth/exchange", json={"code": code}), 401, "expired")


def test_code_of_deactivated_user_is_refused(api: Api, users: Any, engine: Any) -> None:
    user = users("REPORTER")
    code = _code_for(engine, user)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": user.id})
    assert_problem(api.post("auth/exchange", json={"code": code}), 401)


def test_unknown_or_malformed_code(api: Api) -> None:
    assert_problem(api.post("auth/exchange", json={"code": "made-up"}), 401, "invalid")
    assert_problem(api.post("auth/exchange", json={}), 422)
    assert_problem(api.post("auth/exchange", json={"code": "x", "user_id": str(uuid.uuid4())}), 422)


def test_concurrent_exchanges_succeed_once(live_server: str, users: Any, engine: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import requests

    code = _code_for(engine, users("REPORTER"))

    def exchange(_: int) -> int:
        return requests.post(f"{live_server}/auth/exchange", json={"code": code}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(exchange, range(6)))
    assert statuses == [200, 401, 401, 401, 401, 401]


def _linked_user(api: Api, google: GoogleKeys, users: Any, email: str, sub: str) -> Any:
    user = users("REPORTER", email=email)
    assert api.post("auth/google", json={"credential": google.token(email, sub=sub)}).status_code == 200
    return user


def test_admin_lists_and_removes_links(
    api: Api, as_admin: Api, google: GoogleKeys, users: Any, engine: Any
) -> None:
    user = _linked_user(api, google, users, "linked@example.com", "g-42")
    other = _linked_user(api, google, users, "other@example.com", "g-43")
    listed = as_admin.get(f"users/{user.id}/sso-links")
    assert listed.status_code == 200, listed.text
    [link] = listed.json()
    assert (link["provider"], link["subject"], link["email"], link["user_id"]) == (
        "google",
        "g-42",
        "linked@example.com",
        str(user.id),
    )
    assert link["last_login_at"] is not None
    other_link = as_admin.get(f"users/{other.id}/sso-links").json()[0]
    # A link id of another user is not found under this user.
    assert_problem(as_admin.delete(f"users/{user.id}/sso-links/{other_link['id']}"), 404)
    assert as_admin.delete(f"users/{user.id}/sso-links/{link['id']}").status_code == 204
    assert as_admin.get(f"users/{user.id}/sso-links").json() == []
    assert_problem(as_admin.delete(f"users/{user.id}/sso-links/{link['id']}"), 404)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sso_links")).scalar() == 1


def test_unknown_user_links_404(as_admin: Api) -> None:
    assert_problem(as_admin.get(f"users/{uuid.uuid4()}/sso-links"), 404)


def test_only_admins_manage_links(
    as_maintainer: Api, as_reporter: Api, reporter: Any, google: GoogleKeys, users: Any
) -> None:
    api = as_reporter.as_(None)
    user = _linked_user(api, google, users, "linked@example.com", "g-1")
    for client in (as_maintainer, as_reporter):
        assert_problem(client.get(f"users/{user.id}/sso-links"), 403)
        assert_problem(client.delete(f"users/{user.id}/sso-links/{uuid.uuid4()}"), 403)
    # Not even for their own account: removing a link is an admin decision.
    assert_problem(as_reporter.get(f"users/{reporter.id}/sso-links"), 403)
    assert_problem(api.get(f"users/{user.id}/sso-links"), 401)
