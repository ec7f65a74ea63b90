"""Create, read, update, delete over real HTTP, with validation and events."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.issues.helpers import events, new_issue
from tests.support.api import Api, assert_problem

ISSUE_FIELDS = {
    "id", "title", "description", "description_html", "severity", "status", "created_by",
    "created_by_name", "updated_by", "updated_by_name", "created_at", "updated_at", "file_url",
    "version", "attachments", "allowed_transitions", "assignee_id", "assignee_name", "labels",
    "comment_count", "source_url",
}  # fmt: skip


def test_create_returns_issue_location_and_etag(as_reporter: Api, reporter: Any, engine: Engine) -> None:
    response = as_reporter.post(
        "issues", json={"title": "  Login broken  ", "description": "**Bold** <b>raw</b>", "file_url": None}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == ISSUE_FIELDS
    assert body["title"] == "Login broken"
    assert body["status"] == "OPEN"
    assert body["severity"] == "MEDIUM"
    assert body["version"] == 1
    assert body["created_by"] == str(reporter.id)
    assert body["created_by_name"] == "Rita Reporter"
    assert body["updated_by_name"] == "Rita Reporter"
    assert body["attachments"] == []
    assert body["description_html"] == "<p><strong>Bold</strong> &lt;b&gt;raw&lt;/b&gt;</p>\n"
    assert response.headers["Location"].endswith(f"/api/issues/{body['id']}")
    assert response.headers["ETag"].startswith(f'"{body["id"]}-1-')

    fetched = as_reporter.get(response.headers["Location"].split("/api/")[1])
    assert fetched.status_code == 200
    assert fetched.json() == body

    (event,) = events(engine, body["id"])
    assert event["type"] == "issue_created"
    assert event["actor_id"] == reporter.id
    assert event["audience_owner_id"] == reporter.id
    assert event["payload"]["changes"]["title"] == [None, "Login broken"]
    assert event["payload"]["changes"]["status"] == [None, "OPEN"]
    assert event["payload"]["issue"]["status"] == "OPEN"


def test_original_client_create_body_is_accepted(as_reporter: Api) -> None:
    issue = new_issue(as_reporter, severity="HIGH", file_url="https://files.example.com/a.png")
    assert issue["severity"] == "HIGH"
    assert issue["file_url"] == "https://files.example.com/a.png"
    # The original form sends an empty string when no link was entered: stored as null.
    assert new_issue(as_reporter, file_url="")["file_url"] is None


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"title": ""}, "body.title"),
        ({"title": "   \t "}, "body.title"),
        ({"title": "x" * 201}, "body.title"),
        ({"title": "ok", "description": "d" * 20_001}, "body.description"),
        ({"title": "ok", "severity": "URGENT"}, "body.severity"),
        ({"title": "ok", "status": "DONE"}, "body.status"),
        ({"title": "ok", "status": "OPEN"}, "body.status"),
        ({"title": "ok", "file_url": "http://example.com/x"}, "body.file_url"),
        ({"title": "ok", "file_url": "javascript:alert(1)"}, "body.file_url"),
        ({"title": "ok", "file_url": "https://"}, "body.file_url"),
        ({"title": "ok", "file_url": "ftp://example.com/x"}, "body.file_url"),
        ({"title": "ok", "created_by": str(uuid.uuid4())}, "body.created_by"),
        ({"description": "no title"}, "body.title"),
    ],
)
def test_create_validation(as_reporter: Api, engine: Engine, body: dict[str, Any], where: str) -> None:
    problem = assert_problem(as_reporter.post("issues", json=body), 422)
    assert where in [e["loc"] for e in problem["errors"]], problem
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM issues")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 0


def test_title_limits_after_trimming(as_reporter: Api) -> None:
    assert new_issue(as_reporter, title=" " + "x" * 200 + " ")["title"] == "x" * 200
    assert new_issue(as_reporter, title="y")["title"] == "y"
    assert new_issue(as_reporter, description="d" * 20_000)["description"] == "d" * 20_000


def test_requires_sign_in(api: Api) -> None:
    assert_problem(api.get("issues"), 401)
    assert_problem(api.post("issues", json={"title": "x"}), 401)


def test_get_unknown_or_invisible_issue_is_404(
    as_reporter: Api, as_other_reporter: Api, as_maintainer: Api
) -> None:
    issue = new_issue(as_other_reporter)
    assert_problem(as_reporter.get(f"issues/{issue['id']}"), 404, "not found")
    assert_problem(as_reporter.get(f"issues/{uuid.uuid4()}"), 404)
    assert as_maintainer.get(f"issues/{issue['id']}").status_code == 200
    # Every operation on an invisible issue answers 404, not 403.
    assert_problem(as_reporter.patch(f"issues/{issue['id']}", json={"title": "mine now"}), 404)
    assert_problem(as_reporter.put(f"issues/{issue['id']}", json={"title": "mine now"}), 404)
    assert_problem(as_reporter.delete(f"issues/{issue['id']}"), 404)
    assert_problem(as_reporter.get(f"issues/{issue['id']}/history"), 404)
    assert as_other_reporter.get(f"issues/{issue['id']}").json()["title"] == "Printer on fire"


def test_update_changes_fields_bumps_version_and_records_one_event(
    as_reporter: Api, as_maintainer: Api, maintainer: Any, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    response = as_maintainer.patch(
        f"issues/{issue['id']}",
        json={"title": "Printer smoking", "severity": "CRITICAL", "file_url": "https://x.example/1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 2
    assert body["title"] == "Printer smoking"
    assert body["severity"] == "CRITICAL"
    assert body["updated_by"] == str(maintainer.id)
    assert body["updated_by_name"] == "Mark Maintainer"
    assert body["created_by_name"] == "Rita Reporter"
    assert body["updated_at"] > issue["updated_at"]
    assert response.headers["ETag"].startswith(f'"{issue["id"]}-2-')

    recorded = events(engine, issue["id"])
    assert [e["type"] for e in recorded] == ["issue_created", "issue_updated"]
    assert recorded[1]["payload"]["changes"] == {
        "title": ["Printer on fire", "Printer smoking"],
        "severity": ["MEDIUM", "CRITICAL"],
        "file_url": [None, "https://x.example/1"],
    }
    assert recorded[1]["payload"]["issue"]["severity"] == "CRITICAL"  # snapshot is the new state

    # Clearing the link is a change too.
    cleared = as_maintainer.put(f"issues/{issue['id']}", json={"file_url": None}).json()
    assert cleared["file_url"] is None
    assert cleared["version"] == 3


def test_status_change_records_status_event_with_all_changes(as_maintainer: Api, engine: Engine) -> None:
    issue = new_issue(as_maintainer)
    response = as_maintainer.put(f"issues/{issue['id']}", json={"status": "TRIAGED", "severity": "HIGH"})
    assert response.status_code == 200, response.text
    last = events(engine, issue["id"])[-1]
    assert last["type"] == "issue_status_changed"
    assert last["payload"]["changes"] == {"status": ["OPEN", "TRIAGED"], "severity": ["MEDIUM", "HIGH"]}


def test_noop_update_writes_nothing(as_reporter: Api, as_maintainer: Api, engine: Engine) -> None:
    issue = new_issue(as_reporter)
    for body in ({}, {"title": issue["title"], "status": "OPEN", "severity": "MEDIUM"}):
        response = as_maintainer.patch(f"issues/{issue['id']}", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1
        assert response.json()["updated_at"] == issue["updated_at"]
        # Nothing was written, so the last editor is still the reporter, not the caller.
        assert response.json()["updated_by_name"] == issue["updated_by_name"]
        assert response.headers["ETag"].startswith(f'"{issue["id"]}-1-')
    assert len(events(engine, issue["id"])) == 1


@pytest.mark.parametrize(
    "body",
    [{"title": "  "}, {"title": None}, {"status": None}, {"severity": None}, {"description": None},
     {"status": "CLOSED"}, {"file_url": "http://insecure.example"}, {"created_by": str(uuid.uuid4())},
     {"version": 7}],
)  # fmt: skip
def test_update_validation(as_maintainer: Api, engine: Engine, body: dict[str, Any]) -> None:
    issue = new_issue(as_maintainer)
    assert_problem(as_maintainer.patch(f"issues/{issue['id']}", json=body), 422)
    assert as_maintainer.get(f"issues/{issue['id']}").json()["version"] == 1
    assert len(events(engine, issue["id"])) == 1


def test_reporter_edits_own_open_issue_text_only(as_reporter: Api, as_maintainer: Api) -> None:
    issue = new_issue(as_reporter)
    url = f"issues/{issue['id']}"
    ok = as_reporter.put(url, json={"title": "Better title", "description": "More detail"})
    assert ok.status_code == 200, ok.text
    # The original client sends unchanged severity/status along with the text: fine.
    ok = as_reporter.put(url, json={"title": "Again", "severity": "MEDIUM", "status": "OPEN"})
    assert ok.status_code == 200, ok.text
    for body in ({"severity": "HIGH"}, {"status": "DONE"}, {"file_url": "https://x.example"},
                 {"title": "t", "status": "TRIAGED"}):  # fmt: skip
        assert_problem(as_reporter.patch(url, json=body), 403, "maintainers")
    # Once triaged, the reporter may not edit the text any more.
    assert as_maintainer.patch(url, json={"status": "TRIAGED"}).status_code == 200
    assert_problem(as_reporter.patch(url, json={"title": "Too late"}), 403, "open issues")
    assert as_reporter.get(url).json()["title"] == "Again"


def test_illegal_transition_is_409_with_allowed_list(
    as_maintainer: Api, engine: Engine, settings_env: Any
) -> None:
    settings_env(ISSUE_WORKFLOW="guided")
    issue = new_issue(as_maintainer)
    assert as_maintainer.patch(f"issues/{issue['id']}", json={"status": "DONE"}).status_code == 200
    problem = assert_problem(
        as_maintainer.patch(f"issues/{issue['id']}", json={"status": "IN_PROGRESS", "title": "x"}), 409
    )
    assert problem["allowed"] == ["OPEN"]
    assert "DONE" in problem["detail"]
    # Nothing was applied and no event written.
    fetched = as_maintainer.get(f"issues/{issue['id']}").json()
    assert (fetched["title"], fetched["status"], fetched["version"]) == ("Printer on fire", "DONE", 2)
    assert len(events(engine, issue["id"])) == 2


def test_delete_rules(
    as_admin: Api, as_maintainer: Api, as_reporter: Api, engine: Engine, admin: Any
) -> None:
    own = new_issue(as_reporter)
    triaged = new_issue(as_reporter)
    assert as_maintainer.patch(f"issues/{triaged['id']}", json={"status": "TRIAGED"}).status_code == 200

    assert_problem(as_maintainer.delete(f"issues/{own['id']}"), 403)
    assert_problem(as_reporter.delete(f"issues/{triaged['id']}"), 403, "open")
    assert as_reporter.delete(f"issues/{own['id']}").status_code == 200
    assert_problem(as_reporter.get(f"issues/{own['id']}"), 404)
    assert as_admin.delete(f"issues/{triaged['id']}").status_code == 200
    assert_problem(as_admin.delete(f"issues/{triaged['id']}"), 404)

    deleted = events(engine, triaged["id"])[-1]
    assert deleted["type"] == "issue_deleted"
    assert deleted["actor_id"] == admin.id
    assert deleted["payload"]["issue"]["status"] == "TRIAGED"  # the state when deleted
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM issues")).scalar() == 0
        counts = conn.execute(text("SELECT type, count(*) FROM events GROUP BY type")).all()
    assert dict(counts) == {"issue_created": 2, "issue_status_changed": 1, "issue_deleted": 2}


def test_delete_removes_attachment_rows(as_admin: Api, admin: Any, engine: Engine) -> None:
    issue = new_issue(as_admin)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO attachments (id, issue_id, uploaded_by, blob_name, filename, content_type,"
                " size_bytes, status) VALUES (gen_random_uuid(), :i, :u, :b, 'a.png', 'image/png', 3,"
                " 'ACTIVE')"
            ),
            {"i": issue["id"], "u": admin.id, "b": f"issues/{issue['id']}/{uuid.uuid4()}"},
        )
    shown = as_admin.get(f"issues/{issue['id']}").json()["attachments"]
    assert [a["filename"] for a in shown] == ["a.png"]
    assert as_admin.delete(f"issues/{issue['id']}").status_code == 200
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attachments")).scalar() == 0


def test_history_oldest_first_with_actor_names(
    as_reporter: Api, as_maintainer: Api, reporter: Any, maintainer: Any
) -> None:
    issue = new_issue(as_reporter)
    url = f"issues/{issue['id']}"
    as_reporter.patch(url, json={"title": "Renamed"})
    as_maintainer.patch(url, json={"status": "TRIAGED"})
    as_maintainer.patch(url, json={"status": "TRIAGED"})  # no-op: no entry
    response = as_reporter.get(url + "/history")
    assert response.status_code == 200, response.text
    entries = response.json()
    assert [e["type"] for e in entries] == ["issue_created", "issue_updated", "issue_status_changed"]
    assert entries[0]["actor"] == {"id": str(reporter.id), "full_name": "Rita Reporter"}
    assert entries[2]["actor"] == {"id": str(maintainer.id), "full_name": "Mark Maintainer"}
    assert entries[1]["changes"] == {"title": ["Printer on fire", "Renamed"]}
    assert entries[2]["changes"] == {"status": ["OPEN", "TRIAGED"]}
    assert entries[0]["id"] < entries[1]["id"] < entries[2]["id"]
    assert entries[0]["at"] <= entries[1]["at"] <= entries[2]["at"]


def test_collection_routes_with_and_without_trailing_slash(as_reporter: Api) -> None:
    new_issue(as_reporter)
    assert as_reporter.get("issues").status_code == 200
    assert as_reporter.get("issues/").status_code == 200
    assert as_reporter.post("issues/", json={"title": "slash"}).status_code == 201


@pytest.mark.parametrize(
    "title", ["\u200b", "\u200b\u200c\u200d\u2060\ufeff", " \u200b \u00a0", "\u2062\u2063"]
)
def test_a_title_with_no_visible_character_is_refused(as_reporter: Api, title: str) -> None:
    problem = assert_problem(as_reporter.post("issues", {"title": title}), 422)
    assert problem["errors"][0]["loc"] == "body.title"
    issue = as_reporter.post("issues", {"title": "visible"}).json()
    resp = as_reporter.patch(f"issues/{issue['id']}", {"title": title})
    assert_problem(resp, 422)
    assert as_reporter.post("issues", {"title": "\u200bA\u200b"}).status_code == 201  # one visible is enough
