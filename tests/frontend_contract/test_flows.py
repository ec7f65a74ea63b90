"""The original client's everyday flows, replayed over HTTP exactly as it makes them
(tests/frontend_contract/client.py; docs/frontend.md): every answer parsed as JSON, one refresh on 401, no
If-Match, its exact bodies, the multipart upload, and `file_url` opened without a token.
A ClientFailure is what would have been an error toast in the browser."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import jwt
import pytest

from tests.attachments.conftest import PNG
from tests.frontend_contract.client import ClientFailure, OriginalClient
from tests.frontend_contract.conftest import ADMIN, MAINTAINER, REPORTER, SURPRISE
from trackly.local.demo import SAMPLE_ISSUES

Client = Callable[[str, str], OriginalClient]
STATUSES = ["OPEN", "TRIAGED", "IN_PROGRESS", "DONE"]
SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
USER_FIELDS = {"id", "email", "full_name", "role", "created_at"}
ISSUE_LIST_FIELDS = {
    "id", "title", "status", "severity", "created_at", "created_by", "created_by_name",
    "updated_by_name", "file_url",
}  # fmt: skip
ISSUE_DETAIL_FIELDS = {
    "title", "description", "severity", "status", "file_url", "created_at", "created_by",
    "created_by_name", "updated_at", "updated_by_name",
}  # fmt: skip


def test_sign_in_and_dashboard_counters(client: Client) -> None:
    for email, password in (ADMIN, MAINTAINER, REPORTER):
        c = client(email, password)
        me = c.call("GET", "/auth/me")
        assert set(me) >= USER_FIELDS and me["email"] == email
        by_severity = c.call("GET", "/issues/stats/by-severity")["issues_by_severity"]
        by_status = c.call("GET", "/issues/stats/by-status")["issues_by_status"]
        total = c.call("GET", "/issues/stats/count")["total_issues"]
        assert set(by_severity) == set(SEVERITIES) and set(by_status) == set(STATUSES)
        assert sum(by_severity.values()) == sum(by_status.values()) == total
        expected = (
            len(SAMPLE_ISSUES)
            if me["role"] != "REPORTER"
            else sum(1 for author, *_ in SAMPLE_ISSUES if author == email)
        )
        assert total == expected
        if me["role"] != "REPORTER":
            daily = c.call("GET", "/stats/daily?limit=30")
            assert isinstance(daily, list) and daily  # the chart has rows to draw
            for row in daily:
                assert {"date", "total_issues", "status_open", "severity_critical"} <= set(row)
            assert max(daily, key=lambda row: row["date"])["total_issues"] == len(SAMPLE_ISSUES)


def test_issue_list_pages_with_skip_and_limit(client: Client) -> None:
    c = client(*ADMIN)
    for n in range(17):
        c.call(
            "POST", "/issues", {"title": f"Paged {n}", "description": "", "severity": "LOW", "file_url": None}
        )
    total = c.call("GET", "/issues/stats/count")["total_issues"]
    assert total == 17 + len(SAMPLE_ISSUES)
    seen: list[str] = []
    for page in range((total + 9) // 10):
        items = c.call("GET", f"/issues?skip={page * 10}&limit=10")
        assert isinstance(items, list)
        assert len(items) == min(10, total - page * 10)
        for item in items:
            assert set(item) >= ISSUE_LIST_FIELDS
        seen += [i["id"] for i in items]
    assert len(seen) == len(set(seen)) == total
    assert c.call("GET", f"/issues?skip={total}&limit=10") == []


def test_create_without_a_file(client: Client) -> None:
    c = client(*REPORTER)
    for file_url in (None, ""):  # the form sends null, or "" when the link field was cleared
        created = c.call(
            "POST",
            "/issues",
            {"title": "No file", "description": "desc", "severity": "MEDIUM", "file_url": file_url},
        )
        detail = c.call("GET", f"/issues/{created['id']}")
        assert set(detail) >= ISSUE_DETAIL_FIELDS
        assert detail["file_url"] is None and detail["status"] == "OPEN"


def test_create_with_a_file_and_open_its_link(client: Client) -> None:
    c = client(*REPORTER)
    uploaded = c.upload("screenshot.png", PNG, "image/png")
    assert uploaded["filename"] == "screenshot.png" and uploaded["size_bytes"] == len(PNG)
    c.call(
        "POST",
        "/issues",
        {
            "title": "Broken layout",
            "description": "see file",
            "severity": "HIGH",
            "file_url": uploaded["file_url"],
        },
    )
    listed = [i for i in c.call("GET", "/issues?skip=0&limit=10") if i["title"] == "Broken layout"]
    assert len(listed) == 1
    detail = c.call("GET", f"/issues/{listed[0]['id']}")
    page = OriginalClient.open_link(detail["file_url"])  # no Authorization header
    assert page.status_code == 200 and page.content == PNG
    # Staff opening the same issue get a working link too.
    staff_view = client(*MAINTAINER).call("GET", f"/issues/{listed[0]['id']}")
    assert OriginalClient.open_link(staff_view["file_url"]).content == PNG
    # A text file, and an external link, work the same way.
    notes = c.upload("notes.txt", b"steps to reproduce\n", "text/plain")
    created = c.call(
        "POST",
        "/issues",
        {"title": "Notes", "description": "", "severity": "LOW", "file_url": notes["file_url"]},
    )
    assert (
        OriginalClient.open_link(c.call("GET", f"/issues/{created['id']}")["file_url"]).content
        == b"steps to reproduce\n"
    )
    ext = c.call(
        "POST",
        "/issues",
        {"title": "Ext", "description": "", "severity": "LOW", "file_url": "https://example.com/x.png"},
    )
    assert c.call("GET", f"/issues/{ext['id']}")["file_url"] == "https://example.com/x.png"


def test_a_refused_upload_shows_a_readable_failure(client: Client) -> None:
    c = client(*REPORTER)
    with pytest.raises(ClientFailure) as failure:
        c.upload("virus.exe", b"MZ\x90\x00", "application/x-msdownload")
    assert failure.value.status == 415


@pytest.mark.parametrize("who", [MAINTAINER, ADMIN], ids=["maintainer", "admin"])
def test_edit_with_every_status_choice(client: Client, who: tuple[str, str]) -> None:
    c = client(*who)
    issue = c.call(
        "POST", "/issues", {"title": "Edit me", "description": "", "severity": "LOW", "file_url": None}
    )
    current = "OPEN"
    # Every ordered pair of statuses, as the edit form's dropdown offers them, each save also
    # changing the title and severity in the same PUT.
    moves = [(a, b) for a in STATUSES for b in STATUSES]
    for n, (source, target) in enumerate(moves):
        if current != source:
            c.call(
                "PUT",
                f"/issues/{issue['id']}",
                {"title": f"Edit {n}a", "description": "", "severity": "LOW", "status": source},
            )
        saved = c.call(
            "PUT",
            f"/issues/{issue['id']}",
            {"title": f"Edit {n}", "description": f"d{n}", "severity": SEVERITIES[n % 4], "status": target},
        )
        assert (saved["status"], saved["title"], saved["severity"]) == (
            target,
            f"Edit {n}",
            SEVERITIES[n % 4],
        )
        current = target
    detail = c.call("GET", f"/issues/{issue['id']}")
    assert detail["status"] == current and set(detail) >= ISSUE_DETAIL_FIELDS


def test_reporter_edits_text_of_own_open_issue(client: Client) -> None:
    c = client(*REPORTER)
    issue = c.call(
        "POST", "/issues", {"title": "Typo", "description": "", "severity": "LOW", "file_url": None}
    )
    # The form sends the unchanged severity and status along with the edited text.
    saved = c.call(
        "PUT",
        f"/issues/{issue['id']}",
        {"title": "Typo fixed", "description": "x", "severity": "LOW", "status": "OPEN"},
    )
    assert saved["title"] == "Typo fixed"


def test_delete_issue(client: Client) -> None:
    for who in (ADMIN, REPORTER):
        c = client(*who)
        issue = c.call(
            "POST",
            "/issues",
            {"title": "Short-lived", "description": "", "severity": "LOW", "file_url": None},
        )
        answer = c.call("DELETE", f"/issues/{issue['id']}")  # parsed as JSON: no toast
        assert answer["id"] == issue["id"]
        assert issue["id"] not in {i["id"] for i in c.call("GET", "/issues?skip=0&limit=100")}


def test_users_create_edit_delete(client: Client) -> None:
    c = client(*ADMIN)
    users = c.call("GET", "/users")
    assert all(set(u) >= USER_FIELDS for u in users)
    c.call(
        "POST",
        "/users",
        {"email": "new@trackly.com", "password": "newpass123", "full_name": "New Person", "role": "REPORTER"},
    )
    new = next(u for u in c.call("GET", "/users") if u["email"] == "new@trackly.com")
    c.call("PUT", f"/users/{new['id']}", {"full_name": "Renamed Person", "role": "MAINTAINER"})
    edited = next(u for u in c.call("GET", "/users") if u["id"] == new["id"])
    assert (edited["full_name"], edited["role"]) == ("Renamed Person", "MAINTAINER")
    c.call("DELETE", f"/users/{new['id']}")  # parsed as JSON: no toast
    assert new["id"] not in {u["id"] for u in c.call("GET", "/users")}  # the reload shows it gone
    # The admin edits their own name with their unchanged role (the form always sends both).
    me = c.call("GET", "/auth/me")
    c.call("PUT", f"/users/{me['id']}", {"full_name": "Ada A. Admin", "role": "ADMIN"})
    # The deleted user can no longer sign in.
    with pytest.raises(ClientFailure) as failure:
        client("new@trackly.com", "newpass123")
    assert failure.value.status == 401


def test_reporter_scoping(client: Client) -> None:
    rita, sam = client(*REPORTER), client(*SURPRISE)
    mine = {i["id"] for i in rita.call("GET", "/issues?skip=0&limit=100")}
    assert rita.call("GET", "/issues/stats/count")["total_issues"] == len(mine)
    theirs = {i["id"] for i in sam.call("GET", "/issues?skip=0&limit=100")}
    assert mine and theirs and not (mine & theirs)
    other = next(iter(theirs))
    with pytest.raises(ClientFailure) as failure:
        rita.call("GET", f"/issues/{other}")
    assert "404" in str(failure.value)  # how the client recognises "not found / no access"
    with pytest.raises(ClientFailure) as failure:
        rita.call("GET", "/users")
    assert "403" in str(failure.value)
    assert all(i["created_by_name"] == "Rita Reporter" for i in rita.call("GET", "/issues?skip=0&limit=10"))


def test_token_expiry_with_rotation_off(client: Client) -> None:
    """The access token expires while the page is open; the client refreshes once with the first
    refresh token it ever got - every time - and retries."""
    from trackly.auth.tokens import create_access_token
    from trackly.clock import now
    from trackly.config import get_settings

    c = client(*ADMIN)
    first_refresh = c.refresh_token
    user_id = c.call("GET", "/auth/me")["id"]
    for _ in range(3):
        # What the client holds after a long idle: an access token of its session, past its expiry.
        sid = jwt.decode(c.access_token, options={"verify_signature": False})["sid"]
        c.access_token = create_access_token(
            uuid.UUID(user_id), get_settings(), family_id=uuid.UUID(sid), now=now() - timedelta(hours=2)
        )
        assert c.call("GET", "/issues/stats/count")["total_issues"] >= 0
        assert c.refresh_token == first_refresh
        # The expired call, the refresh with the first token, the retry.
        assert c.calls[-3:] == [
            ("GET", "/issues/stats/count", 401),
            ("POST", "/auth/refresh", 200),
            ("GET", "/issues/stats/count", 200),
        ]
    # Signing in again works with rotation off too (a new family).
    assert client(*ADMIN).call("GET", "/auth/me")["id"] == user_id


def test_no_call_needed_if_match_and_every_answer_was_json(client: Client) -> None:
    c = client(*ADMIN)
    issue = c.call(
        "POST", "/issues", {"title": "Plain", "description": "", "severity": "LOW", "file_url": None}
    )
    c.call(
        "PUT",
        f"/issues/{issue['id']}",
        {"title": "Plain 2", "description": "", "severity": "LOW", "status": "DONE"},
    )
    c.call("DELETE", f"/issues/{issue['id']}")
    assert [s for _m, _p, s in c.calls] == [200, 201, 200, 200]
