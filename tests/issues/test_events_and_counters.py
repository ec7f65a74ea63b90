"""Events are written in the same transaction as the change; dashboard counters; index use."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.issues.helpers import bulk_issues, events, new_issue
from tests.support.api import Api, assert_problem
from trackly import db
from trackly.issues import service
from trackly.issues.schemas import IssueListQuery, IssueUpdate
from trackly.models import User


def _update_then_fail(issue_id: str, actor_id: uuid.UUID) -> None:
    with db.session_scope() as session:
        actor = session.get(User, actor_id)
        assert actor is not None
        out = service.update_issue(
            uuid.UUID(issue_id), IssueUpdate(status="TRIAGED"), actor=actor, session=session
        )
        assert out.version == 2
        assert len(session.execute(text("SELECT id FROM events")).all()) == 2  # visible inside only
        raise RuntimeError("something after the change fails")


def _delete_then_fail(issue_id: str, actor_id: uuid.UUID) -> None:
    with db.session_scope() as session:
        actor = session.get(User, actor_id)
        assert actor is not None
        service.delete_issue(uuid.UUID(issue_id), actor=actor, session=session)
        raise RuntimeError("boom")


def test_a_failing_transaction_leaves_neither_change_nor_event(
    as_maintainer: Api, maintainer: Any, admin: Any, engine: Engine
) -> None:
    issue = new_issue(as_maintainer)
    with pytest.raises(RuntimeError, match="after the change"):
        _update_then_fail(issue["id"], maintainer.id)
    fetched = as_maintainer.get(f"issues/{issue['id']}").json()
    assert (fetched["status"], fetched["version"]) == ("OPEN", 1)
    assert [e["type"] for e in events(engine)] == ["issue_created"]

    with pytest.raises(RuntimeError, match="boom"):
        _delete_then_fail(issue["id"], admin.id)
    assert as_maintainer.get(f"issues/{issue['id']}").status_code == 200
    assert [e["type"] for e in events(engine)] == ["issue_created"]


def test_every_committed_change_has_exactly_one_event(
    as_reporter: Api, as_maintainer: Api, as_admin: Api, engine: Engine, settings_env: Any
) -> None:
    settings_env(ISSUE_WORKFLOW="guided")  # so that a status move can be refused (409)
    issues = [new_issue(as_reporter, title=f"Issue {n}") for n in range(4)]
    a, b, c, d = (f"issues/{i['id']}" for i in issues)
    requests_made = [
        as_reporter.patch(a, json={"title": "A1"}),
        as_reporter.patch(a, json={"title": "A1"}),  # no-op
        as_maintainer.patch(a, json={"status": "TRIAGED"}),
        as_reporter.patch(a, json={"title": "A2"}),  # 403
        as_maintainer.patch(b, json={"status": "DONE"}),
        as_maintainer.patch(b, json={"status": "IN_PROGRESS"}),  # 409 (DONE may only reopen)
        as_maintainer.put(b, json={"severity": "LOW", "description": "x"}),
        as_maintainer.patch(c, json={"title": "C"}, headers={"If-Match": '"stale"'}),  # 412
        as_admin.delete(d),
        as_maintainer.patch(c, json={"title": ""}),  # 422
    ]
    assert [r.status_code for r in requests_made] == [200, 200, 200, 403, 200, 409, 200, 412, 200, 422]
    with engine.connect() as conn:
        versions = dict(conn.execute(text("SELECT id::text, version FROM issues")).all())
    for issue in issues:
        recorded = events(engine, issue["id"])
        if issue["id"] in versions:
            # one create event + one per version bump
            assert len(recorded) == versions[issue["id"]], (issue["title"], recorded)
        else:
            assert [e["type"] for e in recorded] == ["issue_created", "issue_deleted"]
    assert len(events(engine)) == 4 + 3 + 1 + 1


def test_counters_are_scoped_and_complete(
    as_reporter: Api, as_maintainer: Api, as_admin: Api, as_other_reporter: Api, api: Api
) -> None:
    empty = as_reporter.get("issues/stats/by-status")
    assert empty.json() == {"issues_by_status": {"OPEN": 0, "TRIAGED": 0, "IN_PROGRESS": 0, "DONE": 0}}
    assert as_reporter.get("issues/stats/by-severity").json() == {
        "issues_by_severity": {"LOW": 0, "MEDIUM": 0, "HIGH": 0, "CRITICAL": 0}
    }
    assert as_reporter.get("issues/stats/count").json() == {"total_issues": 0}

    mine = [new_issue(as_reporter, severity=s) for s in ("LOW", "CRITICAL", "CRITICAL")]
    new_issue(as_other_reporter, severity="HIGH")
    as_maintainer.patch(f"issues/{mine[0]['id']}", json={"status": "DONE"})

    assert as_reporter.get("issues/stats/count").json() == {"total_issues": 3}
    assert as_reporter.get("issues/stats/by-status").json()["issues_by_status"] == {
        "OPEN": 2, "TRIAGED": 0, "IN_PROGRESS": 0, "DONE": 1,
    }  # fmt: skip
    assert as_reporter.get("issues/stats/by-severity").json()["issues_by_severity"] == {
        "LOW": 1, "MEDIUM": 0, "HIGH": 0, "CRITICAL": 2,
    }  # fmt: skip
    for staff in (as_maintainer, as_admin):
        assert staff.get("issues/stats/count").json() == {"total_issues": 4}
        assert staff.get("issues/stats/by-severity").json()["issues_by_severity"]["HIGH"] == 1
        assert sum(staff.get("issues/stats/by-status").json()["issues_by_status"].values()) == 4
    for path in ("issues/stats/count", "issues/stats/by-status", "issues/stats/by-severity"):
        assert_problem(api.get(path), 401)


def _plan(engine: Engine, query: IssueListQuery, viewer: Any) -> str:
    page, count = service.list_queries(query, viewer=viewer)
    out = []
    with engine.connect() as conn:
        # Tiny test tables would be scanned sequentially; forbid that to see which index PostgreSQL
        # can use, and forbid sorting to prove the ORDER BY matches the index order.
        conn.execute(text("SET enable_seqscan = off"))
        conn.execute(text("SET enable_sort = off"))
        for stmt in (page, count):
            compiled = stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"render_postcompile": True})
            plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar()
            out.append(json.dumps(plan))
    return "\n".join(out)


@pytest.mark.parametrize(
    "case",
    [
        ({}, "ix_issues_created_at_id", False),
        ({"sort": "created_at"}, "ix_issues_created_at_id", False),
        ({"sort": "-updated_at"}, "ix_issues_updated_at_id", False),
        ({"sort": "-severity"}, "ix_issues_severity_rank_created_at_id", False),
        ({}, "ix_issues_created_by_created_at_id", True),
        ({"q": "printer fire"}, "ix_issues_search", False),
        ({"status": ["OPEN"]}, "ix_issues_status_created_at", False),
    ],
)
def test_list_queries_are_served_by_indexes(
    case: tuple[dict[str, Any], str, bool], engine: Engine, maintainer: Any, reporter: Any
) -> None:
    params, index, as_reporter_user = case
    bulk_issues(engine, maintainer.id, 50)
    # Statistics of these rows, not of whatever earlier tests left (autovacuum's ANALYZE runs
    # when it likes, and a stale row estimate can make the planner prefer another index).
    with engine.begin() as conn:
        conn.execute(text("ANALYZE issues"))
    viewer = reporter if as_reporter_user else maintainer
    plan = _plan(engine, IssueListQuery.model_validate(params), viewer)
    assert index in plan, plan
    if "q" not in params and "status" not in params:
        assert '"Node Type": "Sort"' not in plan.split("\n")[0], plan
        assert '"Node Type": "Seq Scan"' not in plan, plan
    cursor_query = IssueListQuery.model_validate({**params, "limit": 5})
    with Session(engine) as session:
        page = service.list_issues(cursor_query, viewer=viewer, session=session)
    if page.next_cursor:
        with_cursor = _plan(
            engine, IssueListQuery.model_validate({**params, "cursor": page.next_cursor}), viewer
        )
        assert index in with_cursor.split("\n")[0], with_cursor
        if "q" not in params and "status" not in params:
            assert "Index Cond" in with_cursor.split("\n")[0], with_cursor


def test_a_created_issue_is_stored_as_rendered_with_cached_inserts(
    as_maintainer: Api, maintainer: Any, engine: Engine
) -> None:
    """Create writes the issue, its watcher and its event with prebuilt Core inserts (no ORM
    flush, no re-read): the stored row must be what the response shows, the database still fills
    the computed columns and the counters, and each insert is compiled once, then cached."""
    from sqlalchemy import event
    from sqlalchemy.engine.default import DefaultDialect

    hits: dict[str, list[Any]] = {"ISSUES": [], "WATCHERS": [], "EVENTS": []}

    def seen(*args: Any) -> None:  # conn, cursor, statement, parameters, context, executemany
        statement, context = args[2], args[4]
        for table, found in hits.items():
            if statement.lstrip().upper().startswith(f"INSERT INTO {table} "):
                found.append(context.cache_hit)

    app_engine = db.get_engine()
    event.listen(app_engine, "after_cursor_execute", seen)
    try:
        first = new_issue(as_maintainer, title="Printer on fire", severity="HIGH")
        second = new_issue(as_maintainer, title="Scanner on fire")
    finally:
        event.remove(app_engine, "after_cursor_execute", seen)
    for found in hits.values():
        assert len(found) == 2
        assert found[1] == DefaultDialect.CACHE_HIT, hits

    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT title, description, severity, status, created_by, updated_by, created_at,"
                " updated_at, version, severity_rank, search_vector @@ to_tsquery('english', 'printer')"
                " FROM issues WHERE id = :id"
            ),
            {"id": first["id"]},
        ).one()
        watching = conn.execute(
            text("SELECT user_id FROM watchers WHERE issue_id = :id"), {"id": first["id"]}
        ).scalars()
        counted = conn.execute(
            text("SELECT sum(n) FROM issue_counts WHERE created_by = :u"), {"u": maintainer.id}
        ).scalar_one()
    assert (row.title, row.description, row.severity, row.status, row.version) == (
        first["title"], first["description"], "HIGH", "OPEN", 1,
    )  # fmt: skip
    assert row.created_by == row.updated_by == maintainer.id
    assert row.created_at == row.updated_at == datetime.fromisoformat(first["created_at"])
    assert row.severity_rank > 0 and row[10] is True
    assert list(watching) == [maintainer.id]
    assert counted == 2
    recorded = events(engine, first["id"])
    assert [(e["type"], e["actor_id"], e["audience_owner_id"]) for e in recorded] == [
        ("issue_created", maintainer.id, maintainer.id)
    ]
    assert recorded[0]["payload"]["changes"]["title"] == [None, "Printer on fire"]
    assert second["version"] == 1


def test_create_goes_through_no_orm_flush(as_maintainer: Api, maintainer: Any) -> None:
    """The issue, watcher and event rows are written by Core inserts: the session's unit of work
    never flushes (the ORM's add, flush and refresh were most of create's cost)."""
    from sqlalchemy import event

    from trackly.issues.schemas import IssueCreate

    flushed: list[object] = []
    with db.session_scope() as session:
        actor = session.get(User, maintainer.id)
        assert actor is not None
        event.listen(session, "after_flush", lambda s, _ctx: flushed.append(list(s.new)))
        out = service.create_issue(IssueCreate(title="Core only"), actor=actor, session=session)
        assert flushed == []
    assert as_maintainer.get(f"issues/{out.id}").json()["title"] == "Core only"
