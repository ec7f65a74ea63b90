"""The GitHub source against recorded GitHub REST JSON (tests/portability/fixtures/github)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.portability.conftest import all_results, finish_import, import_via_multipart, import_via_sas
from tests.support.api import Api

FIXTURE = (Path(__file__).parent / "fixtures" / "github" / "repo-export.json").read_bytes()

TABLES = ("users", "issues", "comments", "labels", "issue_labels", "watchers", "events", "notifications")


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        out = {t: int(conn.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in TABLES}  # noqa: S608
        out["imported_events"] = int(conn.scalar(text("SELECT count(*) FROM events WHERE imported")) or 0)
    return out


def by_title(api: Api) -> dict[str, dict[str, Any]]:
    issues = api.get("issues", params={"limit": 100}).json()
    return {i["title"]: i for i in issues}


def test_github_issues_and_comments_are_imported_and_a_rerun_changes_nothing(
    storage_env: str, as_admin: Api, engine: Engine
) -> None:
    job = finish_import(as_admin, import_via_sas(as_admin, "github", FIXTURE))
    assert job["status"] == "done", job
    assert job["counts"] == {"created": 60, "updated": 0, "skipped": 1, "problem": 0}, job["counts"]
    assert job["rows_total"] == job["rows_done"] == 61
    results = all_results(as_admin, job["id"])
    assert [r["reason"] for r in results if r["outcome"] == "skipped"] == ["a pull request, not an issue"]

    issues = by_title(as_admin)
    assert len(issues) == 30
    # open/closed and state_reason
    assert issues["Test issue 1"]["status"] == "OPEN"
    assert issues["Test issue 3"]["status"] == "DONE"
    assert issues["Test issue 15"]["status"] == "OPEN"  # reopened
    not_planned = issues["Test issue 6"]
    assert not_planned["status"] == "DONE"
    assert {label["name"] for label in not_planned["labels"]} == {"bug", "not planned"}
    # labels with GitHub's colors
    assert {(label["name"], label["color"]) for label in issues["Test issue 5"]["labels"]} == {
        ("enhancement", "#a2eeef"),
        ("question", "#d876e3"),
    }
    # authors, assignee, original times, source_url
    assert issues["Test issue 1"]["created_by_name"] == "octokit-fixture-user-a"
    assert issues["Test issue 2"]["created_by_name"] == "octokit-fixture-user-b"
    assert issues["Test issue 7"]["assignee_name"] == "octokit-fixture-user-b"
    assert issues["Test issue 1"]["created_at"] == "2017-10-11T16:00:00Z"
    assert (
        issues["Test issue 1"]["source_url"] == "https://github.com/octokit-fixture-org/hello-world/issues/1"
    )
    assert issues["Test issue 4"]["description"] == ""  # body null
    # comments with their authors and times
    two = issues["Test issue 2"]
    comments = as_admin.get(f"issues/{two['id']}/comments").json()
    assert [(c["body"], c["author_name"]) for c in comments] == [
        ("Comment 1 on issue 2.", "octokit-fixture-user-b"),
        ("Comment 2 on issue 2.", "octokit-fixture-user-a"),
    ]
    assert comments[0]["edited"] is True and comments[1]["edited"] is False
    # the history: created, then closed at GitHub's closed_at
    history = as_admin.get(f"issues/{issues['Test issue 3']['id']}/history").json()
    assert [(h["type"], h["at"]) for h in history[:2]] == [
        ("issue_created", "2017-10-13T16:00:00Z"),
        ("issue_status_changed", "2017-10-28T12:00:00Z"),
    ]
    # placeholders who can never sign in, with GitHub's no-reply addresses
    with engine.connect() as conn:
        people = conn.execute(
            text("SELECT email, is_active, password_hash FROM users WHERE NOT is_active")
        ).all()
    assert sorted(p[0] for p in people) == [
        "octokit-fixture-user-a@users.noreply.github.com",
        "octokit-fixture-user-b@users.noreply.github.com",
    ]
    assert all(p[2] is None for p in people)
    login = as_admin.post(
        "auth/login", json={"email": "octokit-fixture-user-a@users.noreply.github.com", "password": ""}
    )
    assert login.status_code in (401, 422)
    # nothing went out: no notification, every imported event already marked published
    first = counts(engine)
    assert first["notifications"] == 0
    assert first["imported_events"] == 30 + 6 + 30  # created + closed + comments

    again = finish_import(as_admin, import_via_multipart(as_admin, "github", FIXTURE))
    assert again["status"] == "done"
    assert again["counts"] == {"created": 0, "updated": 0, "skipped": 61, "problem": 0}, again["counts"]
    second = counts(engine)
    # Only the second job's own record of who imported what is new.
    assert {k: second[k] - first[k] for k in second} == {**dict.fromkeys(second, 0), "events": 2}
    assert by_title(as_admin) == issues


def test_changed_github_issue_updates_on_rerun(storage_env: str, as_admin: Api) -> None:
    finish_import(as_admin, import_via_multipart(as_admin, "github", FIXTURE))
    changed = FIXTURE.replace(b'"title": "Test issue 2"', b'"title": "Test issue 2 (edited on GitHub)"')
    job = finish_import(as_admin, import_via_multipart(as_admin, "github", changed))
    assert job["counts"]["updated"] == 1 and job["counts"]["created"] == 0
    assert "Test issue 2 (edited on GitHub)" in by_title(as_admin)
    assert len(by_title(as_admin)) == 30


def test_mapping_sends_a_login_to_an_existing_account(
    storage_env: str, as_admin: Api, maintainer: Any, engine: Engine
) -> None:
    mapping = {"users": {"octokit-fixture-user-b": maintainer.email}, "severity_labels": {"bug": "HIGH"}}
    job = finish_import(as_admin, import_via_multipart(as_admin, "github", FIXTURE, mapping=mapping))
    assert job["counts"]["problem"] == 0
    issues = by_title(as_admin)
    assert issues["Test issue 2"]["created_by"] == str(maintainer.id)
    assert issues["Test issue 3"]["severity"] == "HIGH"
    assert issues["Test issue 1"]["severity"] == "MEDIUM"
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM users WHERE email LIKE '%noreply.github.com'")) == 1
