"""Permission rows for the issues endpoints (trackly/api/issues.py).

The target issue always belongs to the `reporter` fixture (the "reporter_owner" actor), so
`reporter_other` proves a REPORTER cannot see (404) or touch another reporter's issue.
"""

from __future__ import annotations

from sqlalchemy import text

from tests.permissions.framework import Ctx, Prepared, Row, expect

SIGNED_IN = expect(anonymous=401, reporter=200, maintainer=200, admin=200)
OWNER_OR_STAFF = expect(anonymous=401, reporter_owner=200, reporter_other=404, maintainer=200, admin=200)
MISSING = expect(anonymous=401, reporter=404, maintainer=404, admin=404)


def _issue(ctx: Ctx, status: str = "OPEN") -> Prepared:
    response = ctx.api_as(ctx.reporter).post("issues", json={"title": "Target", "description": "D"})
    assert response.status_code == 201, response.text
    issue_id = response.json()["id"]
    if status != "OPEN":
        with ctx.engine.begin() as conn:
            conn.execute(text("UPDATE issues SET status = :s WHERE id = :i"), {"s": status, "i": issue_id})
    return Prepared(path={"issue_id": issue_id})


def _open_issue(ctx: Ctx) -> Prepared:
    return _issue(ctx)


def _triaged_issue(ctx: Ctx) -> Prepared:
    return _issue(ctx, "TRIAGED")


def _update_rows(function: str) -> list[Row]:
    return [
        # Title/description of an OPEN issue: the owning reporter and staff.
        Row(function, OWNER_OR_STAFF, setup=_open_issue, json={"title": "New title"}, variant="text"),
        # Status/severity/link: staff only (403 for the owner; 404 for anyone who cannot see it).
        Row(
            function,
            expect(anonymous=401, reporter_owner=403, reporter_other=404, maintainer=200, admin=200),
            setup=_open_issue,
            json={"status": "TRIAGED", "severity": "HIGH"},
            variant="triage",
        ),
        # Once the issue left OPEN, the reporter may not edit its text either.
        Row(
            function,
            expect(anonymous=401, reporter_owner=403, reporter_other=404, maintainer=200, admin=200),
            setup=_triaged_issue,
            json={"description": "Changed"},
            variant="text-after-triage",
        ),
        Row(function, MISSING, json={"title": "x"}, variant="missing"),
    ]


ROWS = [
    Row(
        "create_issue",
        expect(anonymous=401, reporter=201, maintainer=201, admin=201),
        json={"title": "New", "description": "D", "severity": "LOW", "file_url": None},
    ),
    Row("list_issues", SIGNED_IN),
    Row("get_issue", OWNER_OR_STAFF, setup=_open_issue),
    Row("get_issue", MISSING, variant="missing"),
    *_update_rows("update_issue"),
    *_update_rows("replace_issue"),
    Row(
        "delete_issue",
        expect(anonymous=401, reporter_owner=200, reporter_other=404, maintainer=403, admin=200),
        setup=_open_issue,
        variant="open",
    ),
    Row(
        "delete_issue",
        expect(anonymous=401, reporter_owner=403, reporter_other=404, maintainer=403, admin=200),
        setup=_triaged_issue,
        variant="triaged",
    ),
    Row("delete_issue", expect(anonymous=401, reporter=404, maintainer=403, admin=404), variant="missing"),
    Row("issue_history", OWNER_OR_STAFF, setup=_open_issue),
    Row("issue_history", MISSING, variant="missing"),
    Row("issue_stats_count", SIGNED_IN),
    Row("issue_stats_by_status", SIGNED_IN),
    Row("issue_stats_by_severity", SIGNED_IN),
]
