"""Deleted (deactivated) users leave the users list, keep their name on their issues, and their
email cannot silently be reused (issue 13, item 2); deletes answer JSON (item 1)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api, assert_problem


def test_deleted_user_leaves_the_list_and_answers_json(as_admin: Api, admin: Any, users: Any) -> None:
    leaving = users("MAINTAINER", full_name="Leaving Lee", email="lee@example.com")
    staying = users("REPORTER", full_name="Staying Sue")
    before = {u["id"] for u in as_admin.get("users").json()}
    assert str(leaving.id) in before

    deleted = as_admin.delete(f"users/{leaving.id}")
    assert deleted.status_code == 200
    assert deleted.headers["Content-Type"].startswith("application/json")
    body = deleted.json()
    assert body["id"] == str(leaving.id) and body["deleted"] is True and body["message"]

    # What the client does next: reload the list; the user is gone, the total agrees.
    after = as_admin.get("users")
    assert {u["id"] for u in after.json()} == {str(admin.id), str(staying.id)}
    assert after.headers["X-Total-Count"] == "2"
    assert all(u["is_active"] for u in after.json())

    everyone = as_admin.get("users", params={"include_inactive": "true"}).json()
    marked = {u["id"]: u["is_active"] for u in everyone}
    assert marked == {str(admin.id): True, str(staying.id): True, str(leaving.id): False}
    # The Link header keeps the filter, so following it lists the same set.
    link = as_admin.get("users", params={"include_inactive": "true", "limit": 1}).headers["Link"]
    assert "include_inactive=true" in link


def test_deleted_users_issues_keep_their_name(as_admin: Api, users: Any) -> None:
    author = users("REPORTER", full_name="Gone Gary")
    issue = as_admin.as_(users.token(author)).post("issues", json={"title": "Left behind"}).json()
    assert as_admin.delete(f"users/{author.id}").status_code == 200
    shown = as_admin.get(f"issues/{issue['id']}").json()
    assert shown["created_by"] == str(author.id)
    assert shown["created_by_name"] == "Gone Gary"
    listed = as_admin.get("issues").json()
    assert [i["created_by_name"] for i in listed] == ["Gone Gary"]


def test_creating_a_user_with_a_deactivated_email_says_how_to_reactivate(
    as_admin: Api, users: Any, engine: Engine
) -> None:
    old = users("REPORTER", email="back@example.com", full_name="Back Again")
    assert as_admin.delete(f"users/{old.id}").status_code == 200
    problem = assert_problem(
        as_admin.post(
            "users",
            json={
                "email": "BACK@example.com",
                "password": "password123",
                "full_name": "New",
                "role": "ADMIN",
            },
        ),
        409,
        "deactivated",
    )
    assert problem["user_id"] == str(old.id)
    assert f"PUT /api/users/{old.id}" in problem["detail"]
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM users WHERE lower(email) = 'back@example.com'")).scalar()
            == 1
        )
    # The way the answer describes works, and the account comes back with its old role.
    revived = as_admin.put(f"users/{old.id}", json={"is_active": True})
    assert revived.status_code == 200 and revived.json()["is_active"] is True
    assert revived.json()["role"] == "REPORTER"
    assert str(old.id) in {u["id"] for u in as_admin.get("users").json()}
    # An active account's email stays a plain duplicate.
    assert_problem(
        as_admin.post(
            "users",
            json={
                "email": "back@example.com",
                "password": "password123",
                "full_name": "X",
                "role": "REPORTER",
            },
        ),
        409,
        "already exists",
    )


def test_issue_and_attachment_free_deletes_answer_json(as_admin: Api) -> None:
    issue = as_admin.post("issues", json={"title": "Short-lived"}).json()
    resp = as_admin.delete(f"issues/{issue['id']}")
    assert resp.status_code == 200
    assert resp.json() == {"id": issue["id"], "deleted": True, "message": "The issue was deleted."}
    assert_problem(as_admin.delete(f"issues/{uuid.uuid4()}"), 404)
