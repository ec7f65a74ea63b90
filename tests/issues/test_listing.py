"""GET /issues: scoping, filters, sorting, offset and cursor paging, totals, search, query counts."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.issues.helpers import bulk_issues, new_issue
from tests.support.api import Api, assert_problem
from tests.support.statements import app_statements

LINK = re.compile(r'^<([^>]+)>; rel="next"$')
SEVERITY_RANK = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


def _next(response: requests.Response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = LINK.match(link)
    assert match, link
    return match.group(1).split("/api/", 1)[1]


def _follow(api: Api, path: str) -> tuple[list[dict[str, Any]], list[requests.Response]]:
    items: list[dict[str, Any]] = []
    responses = []
    next_path: str | None = path
    while next_path is not None:
        response = api.get(next_path)
        assert response.status_code == 200, response.text
        responses.append(response)
        items.extend(response.json())
        next_path = _next(response)
        assert len(responses) < 500
    return items, responses


def test_reporter_sees_exactly_their_25_among_1000(
    as_reporter: Api, as_maintainer: Api, reporter: Any, maintainer: Any, engine: Engine
) -> None:
    bulk_issues(engine, maintainer.id, 1000, every_nth_owner=(40, reporter.id))
    # The original client's offset paging.
    seen: list[dict[str, Any]] = []
    for skip in (0, 10, 20, 30):
        response = as_reporter.get("issues", params={"skip": skip, "limit": 10})
        assert response.status_code == 200
        assert response.headers["X-Total-Count"] == "25"
        seen.extend(response.json())
    assert len(seen) == 25
    assert len({i["id"] for i in seen}) == 25
    assert {i["created_by"] for i in seen} == {str(reporter.id)}
    assert [i["created_at"] for i in seen] == sorted((i["created_at"] for i in seen), reverse=True)
    # Cursor paging gives the same rows in the same order.
    by_cursor, pages = _follow(as_reporter, "issues?limit=10")
    assert [i["id"] for i in by_cursor] == [i["id"] for i in seen]
    assert [len(p.json()) for p in pages] == [10, 10, 5]
    # Staff see everything.
    assert as_maintainer.get("issues", params={"limit": 1}).headers["X-Total-Count"] == "1000"
    assert as_reporter.get("issues/stats/count").json() == {"total_issues": 25}
    # A reporter cannot widen the scope with created_by.
    other = as_reporter.get("issues", params={"created_by": str(maintainer.id)})
    assert other.json() == []
    assert other.headers["X-Total-Count"] == "0"


def test_default_page_and_limits(as_maintainer: Api, maintainer: Any, engine: Engine) -> None:
    bulk_issues(engine, maintainer.id, 30)
    response = as_maintainer.get("issues")
    assert response.status_code == 200
    assert isinstance(response.json(), list)
    assert len(response.json()) == 20
    assert response.headers["X-Total-Count"] == "30"
    assert _next(response) is not None
    assert len(as_maintainer.get("issues", params={"limit": 100}).json()) == 30
    assert "Link" not in as_maintainer.get("issues", params={"limit": 100}).headers
    for bad in ({"limit": 0}, {"limit": 101}, {"skip": -1}, {"sort": "title"}, {"status": "CLOSED"},
                {"severity": "URGENT"}, {"created_by": "nope"}, {"created_after": "yesterday"}):  # fmt: skip
        assert_problem(as_maintainer.get("issues", params=bad), 422)


@pytest.mark.parametrize(
    "sort", ["created_at", "-created_at", "updated_at", "-updated_at", "severity", "-severity"]
)
def test_every_sort_pages_completely_in_order(
    sort: str, as_maintainer: Api, maintainer: Any, engine: Engine
) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    bulk_issues(engine, maintainer.id, 40, start=start)
    # Ties on every sort key except id: the tiebreaker must still give each row exactly once.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO issues (id, title, description, severity, status, created_by, version,"
                " created_at, updated_at) SELECT gen_random_uuid(), 'tie ' || g, '', 'HIGH', 'OPEN',"
                " :u, 1, :t, :t FROM generate_series(1, 9) g"
            ),
            {"u": maintainer.id, "t": start + timedelta(seconds=20)},
        )
    items, pages = _follow(as_maintainer, f"issues?sort={sort}&limit=7")
    assert len(items) == 49
    assert len({i["id"] for i in items}) == 49
    assert all(p.headers["X-Total-Count"] == "49" for p in pages)
    field = sort.lstrip("-")

    def key(i: dict[str, Any]) -> tuple[Any, ...]:
        if field == "severity":
            return (SEVERITY_RANK[i["severity"]], i["created_at"], i["id"])
        return (i[field], i["id"])

    assert [key(i) for i in items] == sorted((key(i) for i in items), reverse=sort.startswith("-"))
    # Offset paging with the same sort agrees.
    by_offset = [i for skip in range(0, 49, 10) for i in as_maintainer.get(
        "issues", params={"sort": sort, "limit": 10, "skip": skip}).json()]  # fmt: skip
    assert [i["id"] for i in by_offset] == [i["id"] for i in items]


def test_cursor_is_stable_while_rows_are_inserted(
    as_maintainer: Api, maintainer: Any, engine: Engine
) -> None:
    bulk_issues(engine, maintainer.id, 25)
    first = as_maintainer.get("issues", params={"limit": 10})
    page1 = [i["id"] for i in first.json()]
    next_path = _next(first)
    assert next_path is not None
    for n in range(5):
        new_issue(as_maintainer, title=f"newer {n}")  # newest first: these sort before the cursor
    rest, _pages = _follow(as_maintainer, next_path)
    rest_ids = [i["id"] for i in rest]
    assert len(rest_ids) == 15
    assert not set(rest_ids) & set(page1)
    assert not [i for i in rest if i["title"].startswith("newer")]
    # Deleting an already-seen row does not shift later pages either (unlike skip/offset).
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM issues WHERE id = :i"), {"i": page1[0]})
    again, _ = _follow(as_maintainer, next_path)
    assert [i["id"] for i in again] == rest_ids


def test_link_keeps_filters_and_replaces_skip(as_maintainer: Api, maintainer: Any, engine: Engine) -> None:
    bulk_issues(engine, maintainer.id, 40)
    response = as_maintainer.get(
        "issues", params={"severity": ["HIGH", "LOW"], "sort": "-severity", "limit": 5, "skip": 5}
    )
    next_path = _next(response)
    assert next_path is not None
    query = parse_qs(urlsplit(next_path).query)
    assert query["severity"] == ["HIGH", "LOW"]
    assert query["sort"] == ["-severity"]
    assert query["limit"] == ["5"]
    assert "skip" not in query
    assert len(query["cursor"]) == 1
    following = as_maintainer.get(next_path).json()
    assert (
        following
        == as_maintainer.get(
            "issues", params={"severity": ["HIGH", "LOW"], "sort": "-severity", "limit": 5, "skip": 10}
        ).json()
    )


def test_bad_cursors(as_maintainer: Api, maintainer: Any, engine: Engine) -> None:
    bulk_issues(engine, maintainer.id, 5)
    cursor = parse_qs(urlsplit(_next(as_maintainer.get("issues", params={"limit": 2})) or "").query)[
        "cursor"
    ][0]
    assert as_maintainer.get("issues", params={"limit": 2, "cursor": cursor}).status_code == 200
    assert_problem(as_maintainer.get("issues", params={"cursor": cursor, "sort": "severity"}), 400, "sort")
    assert_problem(as_maintainer.get("issues", params={"cursor": cursor, "sort": "created_at"}), 400, "sort")
    assert_problem(as_maintainer.get("issues", params={"cursor": cursor, "skip": 3}), 422, "skip or cursor")
    forged = [
        "not-base64!!", "e30", base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"s": "-created_at", "k": ["x", "y"]}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"s": "-created_at", "k": [1]}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"s": "-severity", "k": ["2", "2025-01-01T00:00:00+00:00", "x"]}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"s": "-created_at", "k": ["2025-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"]}).encode()).decode(),
    ]  # fmt: skip
    for bad in forged:
        assert_problem(as_maintainer.get("issues", params={"cursor": bad}), 400, "cursor")


def test_filters(
    as_maintainer: Api, as_reporter: Api, reporter: Any, maintainer: Any, engine: Engine
) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    bulk_issues(engine, maintainer.id, 40, start=start)  # statuses and severities cycle
    mine = new_issue(as_reporter, severity="CRITICAL")

    def ids(**params: Any) -> tuple[int, list[dict[str, Any]]]:
        response = as_maintainer.get("issues", params={"limit": 100, **params})
        assert response.status_code == 200, response.text
        return int(response.headers["X-Total-Count"]), response.json()

    total, rows = ids(status=["OPEN", "DONE"])
    assert {r["status"] for r in rows} == {"OPEN", "DONE"}
    assert total == len(rows) == 1 + sum(1 for g in range(1, 41) if (g // 4) % 4 in (0, 3))
    total, rows = ids(severity="CRITICAL")
    assert {r["severity"] for r in rows} == {"CRITICAL"} and total == 11
    total, rows = ids(severity="CRITICAL", status="OPEN")
    assert all(r["status"] == "OPEN" and r["severity"] == "CRITICAL" for r in rows) and total == len(rows)
    total, rows = ids(created_by=str(reporter.id))
    assert [r["id"] for r in rows] == [mine["id"]]
    total, rows = ids(created_after=(start + timedelta(seconds=31)).isoformat(),
                      created_before=(start + timedelta(seconds=35)).isoformat())  # fmt: skip
    assert [r["title"] for r in rows] == ["Bulk issue 34", "Bulk issue 33", "Bulk issue 32", "Bulk issue 31"]
    # Naive times are read as UTC.
    total, _ = ids(created_after="2025-03-01T00:00:31", created_before="2025-03-01T00:00:35")
    assert total == 4
    total, rows = ids(updated_since=(datetime.now(UTC) - timedelta(minutes=5)).isoformat())
    assert [r["id"] for r in rows] == [mine["id"]]


def test_full_text_search(as_maintainer: Api, as_reporter: Api, as_other_reporter: Api) -> None:
    a = new_issue(as_reporter, title="Database connection timeout", description="Pool exhausted at night")
    b = new_issue(as_reporter, title="Login page typo", description="The word 'passwrod' on the login page")
    c = new_issue(as_other_reporter, title="Export times out", description="CSV exports hit timeouts")
    new_issue(as_maintainer, title="Unrelated", description="Nothing to see")

    def found(api: Api, q: str) -> set[str]:
        response = api.get("issues", params={"q": q})
        assert response.status_code == 200, response.text
        assert int(response.headers["X-Total-Count"]) == len(response.json())
        return {i["id"] for i in response.json()}

    assert found(as_maintainer, "timeout") == {a["id"], c["id"]}  # stemming: timeouts ~ timeout
    assert found(as_maintainer, "exhausted") == {a["id"]}  # description is searched too
    assert found(as_maintainer, '"login page"') == {b["id"]}
    assert found(as_maintainer, "timeout -export") == {a["id"]}
    assert found(as_maintainer, "timeout or typo") == {a["id"], b["id"], c["id"]}
    assert found(as_maintainer, "zebra") == set()
    assert found(as_maintainer, "   ") == {a["id"], b["id"], c["id"]} | found(as_maintainer, "unrelated")
    assert found(as_reporter, "timeout") == {a["id"]}  # reporters search only their own
    assert found(as_maintainer, "'); drop table issues; --") == set()
    assert as_maintainer.get("issues/stats/count").json() == {"total_issues": 4}


def test_list_costs_a_constant_number_of_queries(as_maintainer: Api, maintainer: Any, engine: Engine) -> None:
    bulk_issues(engine, maintainer.id, 101)
    with engine.begin() as conn:  # give some issues an attachment and a different editor
        conn.execute(
            text(
                "INSERT INTO attachments (id, issue_id, uploaded_by, blob_name, filename, content_type,"
                " size_bytes, status) SELECT gen_random_uuid(), id, created_by, 'b/' || id, 'f.txt',"
                " 'text/plain', 1, 'ACTIVE' FROM issues ORDER BY created_at DESC LIMIT 30"
            )
        )
        conn.execute(
            text("INSERT INTO labels (id, name, color) VALUES (gen_random_uuid(), 'bug', '#d73a4a')")
        )
        conn.execute(text("INSERT INTO issue_labels SELECT i.id, l.id FROM issues i, labels l"))
        conn.execute(
            text("INSERT INTO comments (id, issue_id, body) SELECT gen_random_uuid(), id, 'c' FROM issues")
        )
        conn.execute(text("UPDATE issues SET assignee_id = created_by"))
    with app_statements() as statements:
        small = as_maintainer.get("issues", params={"limit": 5})
        small_count = len(statements)
        statements.clear()
        big = as_maintainer.get("issues", params={"limit": 100})
        big_count = len(statements)
    assert len(small.json()) == 5 and len(big.json()) == 100
    assert sum(len(i["attachments"]) for i in big.json()) == 30
    assert all(i["created_by_name"] == "Mark Maintainer" for i in big.json())
    # The collaboration fields come with the page, not per issue.
    assert sum(i["comment_count"] for i in big.json()) == 100 and all(
        len(i["labels"]) == 1 for i in big.json()
    )
    assert all(i["assignee_name"] == "Mark Maintainer" for i in big.json())
    # The user, the page (assignee names, labels and comment counts included), the total, the
    # attachments.
    assert small_count == big_count <= 4, statements
