"""Service accounts: created by an ADMIN, no password or email, tokens only, shown by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.api import Api, assert_problem


def _in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _service(as_admin: Api, role: str = "MAINTAINER", name: str = "Release bot") -> dict[str, Any]:
    created = as_admin.post("users", {"kind": "service", "name": name, "role": role})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def _token_for(as_admin: Api, user_id: str, scopes: list[str]) -> str:
    created = as_admin.post(
        f"users/{user_id}/tokens", {"name": "ci", "scopes": scopes, "expires_at": _in(30)}
    )
    assert created.status_code == 201, created.text
    token: str = created.json()["token"]
    return token


def test_an_admin_creates_one_and_it_is_listed_with_its_kind(as_admin: Api, engine: Any) -> None:
    body = _service(as_admin)
    assert body["kind"] == "service" and body["email"] is None and body["full_name"] == "Release bot"
    listed = {u["id"]: u for u in as_admin.get("users").json()}
    assert listed[body["id"]]["kind"] == "service"
    assert {u["kind"] for u in listed.values()} == {"human", "service"}
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT email, password_hash, kind FROM users WHERE id = :id"), {"id": body["id"]}
        ).one()
    assert row == (None, None, "service")


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "service", "role": "REPORTER"},  # no name
        {"kind": "service", "name": "bot", "email": "bot@example.com"},
        {"kind": "service", "name": "bot", "password": "a long password here"},
        {"kind": "service", "name": "bot", "full_name": "Bot"},
        {"email": "p@example.com", "password": "a long password here", "full_name": "P", "name": "x"},
        {"kind": "robot", "name": "bot"},
    ],
)
def test_inconsistent_bodies_are_refused(as_admin: Api, body: dict[str, Any]) -> None:
    assert_problem(as_admin.post("users", body), 422)
    assert len(as_admin.get("users").json()) == 1  # only the admin


def test_only_an_admin_creates_service_accounts(as_maintainer: Api) -> None:
    assert_problem(as_maintainer.post("users", {"kind": "service", "name": "bot"}), 403)


def test_the_database_refuses_a_service_account_with_a_password(engine: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, kind, email, full_name, role, password_hash) "
                "VALUES (gen_random_uuid(), 'service', NULL, 'x', 'REPORTER', 'hash')"
            )
        )


def test_it_cannot_sign_in_and_works_only_with_tokens(api: Api, as_admin: Api, users: Any) -> None:
    from trackly.sso.linking import SsoRefused, _check_active

    body = _service(as_admin)
    # No email to sign in with: the login form has nothing to match, and no session can start.
    assert_problem(api.post("auth/login", {"email": "Release bot", "password": "x"}), 401)
    from sqlalchemy.orm import Session

    from trackly.auth.sessions import start_session
    from trackly.config import get_settings
    from trackly.errors import Unauthorized
    from trackly.models import User

    with Session(users.engine) as session:
        row = session.get(User, body["id"])
        assert row is not None
        with pytest.raises(Unauthorized):
            start_session(row, session=session, settings=get_settings())
        with pytest.raises(SsoRefused) as refused:
            _check_active(row)  # every SSO sign-in of a linked account goes through this
        assert refused.value.reason == "service_account"
    token = _token_for(as_admin, body["id"], ["issues:read", "issues:write"])
    assert api.as_(token).get("issues").status_code == 200


def test_people_create_their_own_tokens_not_the_admin(as_admin: Api, reporter: Any) -> None:
    response = as_admin.post(
        f"users/{reporter.id}/tokens", {"name": "x", "scopes": ["issues:read"], "expires_at": _in(1)}
    )
    assert_problem(response, 422, "service accounts")
    assert as_admin.get(f"users/{reporter.id}/tokens").json() == []


def test_its_work_shows_its_name_in_history_comments_events_and_notifications(
    api: Api, as_admin: Api, as_reporter: Api
) -> None:
    bot = _service(as_admin, name="Triage bot")
    client = api.as_(
        _token_for(as_admin, bot["id"], ["issues:read", "issues:write", "comments:write", "events:read"])
    )
    issue = as_reporter.post("issues", {"title": "Crash", "description": "on start"}).json()
    assert client.patch(f"issues/{issue['id']}", {"status": "TRIAGED"}).status_code == 200
    commented = client.post(f"issues/{issue['id']}/comments", {"body": "Looking into it"})
    assert commented.status_code == 201, commented.text
    assert commented.json()["author_name"] == "Triage bot"
    history = as_reporter.get(f"issues/{issue['id']}/history").json()
    assert "Triage bot" in [e["actor"]["full_name"] for e in history if e["actor"]]
    events = as_reporter.get("events").json()
    assert "Triage bot" in [e.get("user_name") for e in events["events"]]
    notes = as_reporter.get("notifications").json()["items"]
    assert "Triage bot" in [n["event"].get("user_name") for n in notes]


def test_deactivating_it_ends_its_tokens(api: Api, as_admin: Api) -> None:
    bot = _service(as_admin)
    client = api.as_(_token_for(as_admin, bot["id"], ["issues:read"]))
    assert client.get("issues").status_code == 200
    assert as_admin.delete(f"users/{bot['id']}").status_code == 200
    assert_problem(client.get("issues"), 401)
    assert_problem(
        as_admin.post(
            f"users/{bot['id']}/tokens", {"name": "x", "scopes": ["issues:read"], "expires_at": _in(1)}
        ),
        422,
    )
