"""User administration: listing, creation, self-service edits, role changes, the last-admin
guard (also under concurrency) and deactivation."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api, assert_problem

PASSWORD = "password123"


def _user_row(engine: Engine, user_id: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT full_name, role, is_active FROM users WHERE id = :id"), {"id": user_id}
        ).one()
    return dict(row._mapping)


# --- listing ------------------------------------------------------------------------------------


def test_list_is_an_array_with_total_and_links(as_admin: Api, users: Any) -> None:
    for n in range(4):
        users("REPORTER", full_name=f"Person {n}", email=f"person{n}@example.com")
    first = as_admin.get("users", params={"limit": 2})
    assert first.status_code == 200, first.text
    body = first.json()
    assert isinstance(body, list)
    assert len(body) == 2
    assert {"id", "email", "full_name", "role", "created_at"} <= set(body[0])
    assert first.headers["X-Total-Count"] == "5"
    links = requests.utils.parse_header_links(first.headers["Link"])
    rels = {link["rel"]: link["url"] for link in links}
    assert set(rels) == {"first", "next", "last"}
    assert "skip=2" in rels["next"]
    assert "skip=4" in rels["last"]
    second = as_admin.get(rels["next"].split("/api/", 1)[1])
    assert second.status_code == 200
    assert {u["id"] for u in second.json()}.isdisjoint({u["id"] for u in body})
    # The original frontend's trailing-slash form works too.
    assert as_admin.get("users/").status_code == 200


def test_list_filters(as_admin: Api, users: Any) -> None:
    users("MAINTAINER", full_name="Zoe Zebra", email="zoe@zoo.example")
    users("REPORTER", full_name="Yan", email="yan@example.com")
    found = as_admin.get("users", params={"q": "ZEBRA"}).json()
    assert [u["email"] for u in found] == ["zoe@zoo.example"]
    assert [u["email"] for u in as_admin.get("users", params={"q": "zoo.exa"}).json()] == ["zoe@zoo.example"]
    assert as_admin.get("users", params={"q": "%"}).json() == []
    maint = as_admin.get("users", params={"role": "MAINTAINER"})
    assert [u["email"] for u in maint.json()] == ["zoe@zoo.example"]
    assert maint.headers["X-Total-Count"] == "1"
    assert_problem(as_admin.get("users", params={"limit": 101}), 422)
    assert_problem(as_admin.get("users", params={"q": "a\u0000b"}), 400, "NUL")
    assert_problem(as_admin.get("users", params={"role": "GOD"}), 422)


# --- creation -----------------------------------------------------------------------------------


def test_admin_creates_users_and_emails_are_unique_ignoring_case(as_admin: Api, api: Api) -> None:
    body = {"email": "Dev@Example.com", "password": PASSWORD, "full_name": "Dev", "role": "MAINTAINER"}
    created = as_admin.post("users", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "MAINTAINER"
    assert created.headers["Location"].endswith(f"/api/users/{created.json()['id']}")
    login = api.post("auth/login", json={"email": "dev@example.com", "password": PASSWORD})
    assert login.status_code == 200
    assert_problem(as_admin.post("users", json={**body, "email": "DEV@example.COM"}), 409, "already exists")
    assert_problem(as_admin.post("users", json={**body, "email": "x@example.com", "password": "short"}), 422)


def test_concurrent_creation_of_the_same_email(as_admin: Api, engine: Engine) -> None:
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def worker(n: int) -> None:
        client = Api(as_admin.base_url, as_admin.token, requests.Session())
        barrier.wait()
        body = {"email": "race@example.com" if n % 2 else "RACE@example.com", "password": PASSWORD}
        response = client.post("users", json={**body, "full_name": f"Racer {n}"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409, 409]
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM users WHERE lower(email) = 'race@example.com'")).scalar()
            == 1
        )


# --- reading ------------------------------------------------------------------------------------


def test_read_self_or_as_admin(as_reporter: Api, reporter: Any, other_reporter: Any, as_admin: Api) -> None:
    assert as_reporter.get(f"users/{reporter.id}").json()["id"] == str(reporter.id)
    assert_problem(as_reporter.get(f"users/{other_reporter.id}"), 403)
    assert_problem(as_reporter.get(f"users/{uuid.uuid4()}"), 403)  # existence is not revealed
    assert as_admin.get(f"users/{other_reporter.id}").status_code == 200
    assert_problem(as_admin.get(f"users/{uuid.uuid4()}"), 404)


# --- editing ------------------------------------------------------------------------------------


def test_original_frontend_edit_as_admin(as_admin: Api, reporter: Any, engine: Engine) -> None:
    response = as_admin.put(f"users/{reporter.id}", json={"full_name": "Rita R.", "role": "MAINTAINER"})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "MAINTAINER"
    assert _user_row(engine, reporter.id) == {"full_name": "Rita R.", "role": "MAINTAINER", "is_active": True}


def test_self_may_change_own_name_and_resend_own_role(
    as_reporter: Api, reporter: Any, engine: Engine
) -> None:
    response = as_reporter.put(f"users/{reporter.id}", json={"full_name": "Rita New", "role": "REPORTER"})
    assert response.status_code == 200, response.text
    assert as_reporter.patch(f"users/{reporter.id}", json={"full_name": "Rita Newer"}).status_code == 200
    assert _user_row(engine, reporter.id)["full_name"] == "Rita Newer"


def test_self_promotion_fails_and_changes_nothing(
    as_reporter: Api, reporter: Any, as_maintainer: Api, maintainer: Any, engine: Engine
) -> None:
    before = _user_row(engine, reporter.id)
    for method in ("put", "patch"):
        for body in ({"role": "ADMIN"}, {"full_name": "Evil", "role": "ADMIN"}, {"role": "MAINTAINER"}):
            response = getattr(as_reporter, method)(f"users/{reporter.id}", json=body)
            assert_problem(response, 403, "role")
    assert_problem(as_reporter.put(f"users/{reporter.id}", json={"is_active": False, "full_name": "X"}), 403)
    assert _user_row(engine, reporter.id) == before
    assert_problem(as_maintainer.put(f"users/{maintainer.id}", json={"role": "ADMIN"}), 403)
    assert _user_row(engine, maintainer.id)["role"] == "MAINTAINER"
    assert as_reporter.get("auth/me").json()["role"] == "REPORTER"


def test_nobody_edits_someone_else_except_an_admin(
    as_reporter: Api, other_reporter: Any, as_maintainer: Api, engine: Engine
) -> None:
    assert_problem(as_reporter.put(f"users/{other_reporter.id}", json={"full_name": "Hacked"}), 403)
    assert_problem(as_maintainer.put(f"users/{other_reporter.id}", json={"role": "ADMIN"}), 403)
    assert _user_row(engine, other_reporter.id)["full_name"] == "Oscar Other"


def test_admin_cannot_change_own_role_even_with_other_admins(
    as_admin: Api, admin: Any, users: Any, engine: Engine
) -> None:
    users("ADMIN")
    assert_problem(as_admin.put(f"users/{admin.id}", json={"role": "REPORTER"}), 403)
    assert _user_row(engine, admin.id)["role"] == "ADMIN"


def test_update_validation(as_admin: Api, reporter: Any) -> None:
    assert_problem(as_admin.put(f"users/{reporter.id}", json={"email": "x@example.com"}), 422)
    assert_problem(as_admin.put(f"users/{reporter.id}", json={"role": "ROOT"}), 422)
    assert_problem(as_admin.put(f"users/{uuid.uuid4()}", json={"full_name": "Nobody"}), 404)


# --- the last admin -----------------------------------------------------------------------------


def test_last_active_admin_cannot_be_deactivated_or_deleted(
    as_admin: Api, admin: Any, users: Any, engine: Engine
) -> None:
    assert_problem(as_admin.patch(f"users/{admin.id}", json={"is_active": False}), 409, "last active admin")
    assert_problem(as_admin.delete(f"users/{admin.id}"), 409, "last active admin")
    # An inactive second admin does not count.
    users("ADMIN", is_active=False)
    assert_problem(as_admin.delete(f"users/{admin.id}"), 409)
    assert _user_row(engine, admin.id)["is_active"] is True


def test_an_admin_can_be_demoted_while_another_remains(as_admin: Api, users: Any, engine: Engine) -> None:
    second = users("ADMIN")
    assert as_admin.put(f"users/{second.id}", json={"role": "MAINTAINER"}).status_code == 200
    assert _user_row(engine, second.id)["role"] == "MAINTAINER"


def _concurrently(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    barrier = threading.Barrier(len(calls))
    out: list[requests.Response] = []

    def run(call: Callable[[], requests.Response]) -> None:
        barrier.wait()
        out.append(call())

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def test_two_admins_demoting_each_other_at_once_leave_one_admin(api: Api, users: Any, engine: Engine) -> None:
    for _ in range(3):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM users"))
        a, b = users("ADMIN"), users("ADMIN")
        client_a = Api(api.base_url, users.token(a), requests.Session())
        client_b = Api(api.base_url, users.token(b), requests.Session())
        results = _concurrently(
            [
                partial(client_a.delete, f"users/{b.id}"),
                partial(client_b.patch, f"users/{a.id}", json={"role": "REPORTER"}),
            ]
        )
        statuses = sorted(r.status_code for r in results)
        # Whichever runs second finds itself deactivated (401: it authenticated after the other
        # committed), no longer allowed (403) or the last admin (409).
        assert statuses[0] == 200 and statuses[1] in (401, 403, 409), [r.text for r in results]
        with engine.connect() as conn:
            admins = conn.execute(
                text("SELECT count(*) FROM users WHERE role = 'ADMIN' AND is_active")
            ).scalar()
        assert admins == 1


# --- deactivation -------------------------------------------------------------------------------


def test_delete_deactivates_keeps_issues_and_revokes_sessions(
    api: Api, as_admin: Api, users: Any, engine: Engine
) -> None:
    leaving = users("REPORTER", email="leaving@example.com", password=PASSWORD)
    tokens = api.post("auth/login", json={"email": "leaving@example.com", "password": PASSWORD}).json()[
        "tokens"
    ]
    issue_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO issues (id, title, description, severity, status, created_by) "
                "VALUES (:id, 'Mine', '', 'LOW', 'OPEN', :uid)"
            ),
            {"id": issue_id, "uid": leaving.id},
        )
    assert as_admin.delete(f"users/{leaving.id}").status_code == 200
    assert _user_row(engine, leaving.id)["is_active"] is False
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT created_by FROM issues WHERE id = :id"), {"id": issue_id}).scalar()
            == leaving.id
        )
        live = conn.execute(
            text("SELECT count(*) FROM refresh_tokens WHERE user_id = :id AND revoked_at IS NULL"),
            {"id": leaving.id},
        ).scalar()
    assert live == 0
    assert_problem(api.as_(tokens["access_token"]).get("auth/me"), 401)
    assert_problem(api.post("auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)
    assert_problem(api.post("auth/login", json={"email": "leaving@example.com", "password": PASSWORD}), 401)
    # Idempotent, and the admin can see and reactivate the account.
    assert as_admin.delete(f"users/{leaving.id}").status_code == 200
    assert as_admin.get(f"users/{leaving.id}").json()["is_active"] is False
    assert as_admin.patch(f"users/{leaving.id}", json={"is_active": True}).json()["is_active"] is True
    assert as_admin.delete(f"users/{uuid.uuid4()}").status_code == 404
