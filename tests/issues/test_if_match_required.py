"""REQUIRE_IF_MATCH (issue 16, item 7): deployments without the original frontend can refuse
writes that carry no If-Match (428), so a stale full-form PUT cannot revert another user's change."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api, assert_problem


def _issue(as_reporter: Api) -> dict[str, Any]:
    resp = as_reporter.post("issues", {"title": "Printer on fire", "severity": "MEDIUM"})
    assert resp.status_code == 201, resp.text
    return {"id": resp.json()["id"], "etag": resp.headers["ETag"]}


def _state(engine: Engine, issue_id: str) -> tuple[Any, ...]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT severity, title, version FROM issues WHERE id = :id"), {"id": issue_id}
        ).one_or_none()
        events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    return (tuple(row) if row else None, events)


def test_by_default_a_stale_form_put_without_if_match_still_goes_through(
    as_reporter: Api, as_maintainer: Api
) -> None:
    """The original client's flow keeps working; this is the lost update the setting prevents."""
    issue = _issue(as_reporter)
    form = as_maintainer.get(f"issues/{issue['id']}").json()  # the form is loaded ...
    assert as_maintainer.patch(f"issues/{issue['id']}", {"severity": "HIGH"}).status_code == 200
    stale = {k: form[k] for k in ("title", "description", "severity", "status")}
    resp = as_maintainer.put(f"issues/{issue['id']}", {**stale, "title": "Printer on fire!"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["severity"] == "MEDIUM"  # the other change was silently reverted


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_required_if_match_refuses_writes_without_it_with_428(
    as_reporter: Api, as_admin: Api, engine: Engine, settings_env: Any, method: str
) -> None:
    issue = _issue(as_reporter)
    settings_env(REQUIRE_IF_MATCH="true")
    before = _state(engine, issue["id"])
    body = None if method == "DELETE" else {"severity": "HIGH"}
    resp = as_admin.request(method, f"issues/{issue['id']}", json=body)
    problem = assert_problem(resp, 428, "If-Match")
    assert problem["type"].endswith("precondition-required")
    assert _state(engine, issue["id"]) == before


def test_required_if_match_still_answers_412_for_a_stale_tag_and_accepts_current_or_star(
    as_reporter: Api, as_admin: Api, settings_env: Any
) -> None:
    issue = _issue(as_reporter)
    settings_env(REQUIRE_IF_MATCH="true")
    path = f"issues/{issue['id']}"
    fresh = as_admin.patch(path, {"severity": "HIGH"}, headers={"If-Match": issue["etag"]})
    assert fresh.status_code == 200, fresh.text
    assert_problem(as_admin.put(path, {"severity": "LOW"}, headers={"If-Match": issue["etag"]}), 412)
    assert (
        as_admin.put(path, {"severity": "LOW"}, headers={"If-Match": fresh.headers["ETag"]}).status_code
        == 200
    )
    assert as_admin.put(path, {"severity": "CRITICAL"}, headers={"If-Match": "*"}).status_code == 200
    assert as_admin.delete(path, headers={"If-Match": "*"}).status_code == 200


def test_428_comes_before_reading_the_issue(as_admin: Api, settings_env: Any) -> None:
    """No If-Match, unknown issue: 428 (the client must read first anyway), not 404."""
    settings_env(REQUIRE_IF_MATCH="true")
    missing = "00000000-0000-0000-0000-000000000001"
    assert_problem(as_admin.patch(f"issues/{missing}", {"severity": "HIGH"}), 428)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_required_if_match_covers_labelling_an_issue(
    as_reporter: Api, as_admin: Api, engine: Engine, settings_env: Any, method: str
) -> None:
    """Putting a label on (or taking it off) bumps the issue's version like an edit, so the
    setting covers it: 428 without If-Match, 412 stale, 200 with the current tag."""
    issue = _issue(as_reporter)
    bug = as_admin.post("labels", {"name": "bug"}).json()
    path = f"issues/{issue['id']}/labels/{bug['id']}"
    if method == "DELETE":
        assert as_admin.put(path).status_code == 200  # on before the setting, to take off later
    assert as_admin.patch(f"issues/{issue['id']}", {"severity": "HIGH"}).status_code == 200  # stale
    current = as_admin.get(f"issues/{issue['id']}").headers["ETag"]
    settings_env(REQUIRE_IF_MATCH="true")
    before = _state(engine, issue["id"])
    assert_problem(as_admin.request(method, path), 428, "If-Match")
    assert _state(engine, issue["id"]) == before
    assert_problem(as_admin.request(method, path, headers={"If-Match": issue["etag"]}), 412)
    assert as_admin.request(method, path, headers={"If-Match": current}).status_code == 200


def test_required_if_match_covers_comments_with_their_own_tags(as_reporter: Api, settings_env: Any) -> None:
    """Comments carry their own version, not the issue's: under the setting a comment edit needs
    the comment's tag (428 without one, 412 with a stale one), as every conditional write does."""
    issue = _issue(as_reporter)
    path = f"issues/{issue['id']}/comments"
    comment = as_reporter.post(path, {"body": "first"})
    url = f"{path}/{comment.json()['id']}"
    settings_env(REQUIRE_IF_MATCH="true")
    assert_problem(as_reporter.patch(url, {"body": "second"}), 428, "If-Match")
    edited = as_reporter.patch(url, {"body": "second"}, headers={"If-Match": comment.headers["ETag"]})
    assert edited.status_code == 200, edited.text
    stale = {"If-Match": comment.headers["ETag"]}
    assert_problem(as_reporter.patch(url, {"body": "third"}, headers=stale), 412)
    assert as_reporter.delete(url, headers={"If-Match": edited.headers["ETag"]}).status_code == 200


def test_the_openapi_document_says_where_the_setting_applies(api: Api) -> None:
    doc = api.get("openapi.json").json()

    def if_match(path: str, method: str) -> str:
        params = doc["paths"][path][method]["parameters"]
        return str(next(p for p in params if p["name"] == "If-Match")["description"])

    for path, method in (
        ("/issues/{issue_id}", "patch"),
        ("/issues/{issue_id}", "delete"),
        ("/issues/{issue_id}/labels/{label_id}", "put"),
        ("/issues/{issue_id}/labels/{label_id}", "delete"),
        ("/issues/{issue_id}/comments/{comment_id}", "patch"),
        ("/issues/{issue_id}/comments/{comment_id}", "delete"),
        ("/issues/{issue_id}/attachments/{attachment_id}", "delete"),
    ):
        assert "REQUIRE_IF_MATCH" in if_match(path, method), (path, method)
        assert "428" in doc["paths"][path][method]["responses"], (path, method)
