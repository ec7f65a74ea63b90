"""issue_counts: kept exact by the triggers of migration 0002 through every kind of write, and the
source of the dashboard counters and of list totals that need no text or date filter."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine

from tests.issues.helpers import bulk_issues, new_issue
from tests.support.api import Api
from tests.support.locks import wait_for_lock_wait
from trackly import db, schema
from trackly.issues import service
from trackly.issues.schemas import IssueCreate, IssueUpdate
from trackly.models import Severity, Status, User

STATUSES = ("OPEN", "TRIAGED", "IN_PROGRESS", "DONE")
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
GROUPED = "SELECT created_by, status, severity, count(*) FROM issues GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
COUNTERS = "SELECT created_by, status, severity, n FROM issue_counts ORDER BY 1, 2, 3"


def _counters(conn: Connection) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(text(COUNTERS))]


def _grouped(conn: Connection) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(text(GROUPED))]


def assert_exact(engine: Engine) -> list[tuple[Any, ...]]:
    """issue_counts is exactly the grouped count of the issues (no missing, extra or zero groups)."""
    with engine.connect() as conn:
        counters, grouped = _counters(conn), _grouped(conn)
    assert counters == grouped
    return counters


def _sql(engine: Engine, statement: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


# --- (a) the counters follow every kind of write ----------------------------------------------------


def test_counters_follow_api_writes_and_bulk_sql(  # noqa: PLR0917 (pytest fixtures)
    as_reporter: Api,
    as_maintainer: Api,
    as_admin: Api,
    reporter: Any,
    other_reporter: Any,
    maintainer: Any,
    engine: Engine,
    settings_env: Any,
) -> None:
    mine = [new_issue(as_reporter, title=f"Mine {n}", severity=SEVERITIES[n % 4]) for n in range(6)]
    staff = [new_issue(as_maintainer, title=f"Staff {n}", severity="HIGH") for n in range(3)]
    assert sum(row[3] for row in assert_exact(engine)) == 9

    # Status moves, severity changes, both at once, a text-only edit, a no-op, deletes.
    assert as_maintainer.patch(f"issues/{mine[0]['id']}", json={"status": "TRIAGED"}).status_code == 200
    assert as_maintainer.patch(f"issues/{mine[0]['id']}", json={"status": "IN_PROGRESS"}).status_code == 200
    assert as_admin.patch(f"issues/{mine[1]['id']}", json={"severity": "CRITICAL"}).status_code == 200
    both = {"status": "DONE", "severity": "LOW"}
    assert as_maintainer.put(f"issues/{staff[0]['id']}", json=both).status_code == 200
    assert as_reporter.patch(f"issues/{mine[2]['id']}", json={"title": "Renamed"}).status_code == 200
    assert as_reporter.patch(f"issues/{mine[2]['id']}", json={"title": "Renamed"}).status_code == 200
    assert as_reporter.delete(f"issues/{mine[3]['id']}").status_code == 200
    assert as_admin.delete(f"issues/{staff[1]['id']}").status_code == 200
    settings_env(ISSUE_WORKFLOW="guided")  # IN_PROGRESS -> OPEN is refused there
    assert as_maintainer.patch(f"issues/{mine[0]['id']}", json={"status": "OPEN"}).status_code == 409
    assert sum(row[3] for row in assert_exact(engine)) == 7

    # Set-based SQL, as bench/seed.py and data fixes do it.
    bulk_issues(engine, maintainer.id, 400, every_nth_owner=(3, reporter.id))
    assert_exact(engine)
    bulk_issues(engine, other_reporter.id, 50, every_nth_owner=(5, reporter.id))
    assert_exact(engine)
    _sql(engine, "UPDATE issues SET status = 'DONE' WHERE severity = 'LOW'")
    assert_exact(engine)
    _sql(engine, "UPDATE issues SET severity = 'CRITICAL', status = 'TRIAGED' WHERE status = 'IN_PROGRESS'")
    assert_exact(engine)
    # Ownership moves (a data fix): groups of two reporters change in one statement.
    _sql(
        engine,
        "UPDATE issues SET created_by = CASE WHEN created_by = :a THEN CAST(:b AS uuid) "
        "ELSE CAST(:a AS uuid) END WHERE created_by IN (:a, :b) AND severity = 'MEDIUM'",
        a=str(reporter.id),
        b=str(other_reporter.id),
    )
    before = assert_exact(engine)
    _sql(engine, "UPDATE issues SET title = title || '!', version = version + 1")  # counts unchanged
    assert assert_exact(engine) == before
    # Statuses swap in one statement: every row moves, the totals per group may net to zero.
    _sql(
        engine,
        "UPDATE issues SET status = CASE status WHEN 'OPEN' THEN 'DONE' WHEN 'DONE' THEN 'OPEN' "
        "ELSE status END",
    )
    assert_exact(engine)
    # Deleting whole groups removes their counter rows (no zero rows are left behind).
    _sql(engine, "DELETE FROM issues WHERE status = 'TRIAGED'")
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM issue_counts WHERE status = 'TRIAGED'")) == 0
        assert conn.scalar(text("SELECT count(*) FROM issue_counts WHERE n <= 0")) == 0
    assert_exact(engine)
    # Several statements in one transaction.
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM issues WHERE created_by = :o"), {"o": str(other_reporter.id)})
        conn.execute(text("UPDATE issues SET severity = 'LOW' WHERE severity = 'HIGH'"))
        conn.execute(
            text(
                "INSERT INTO issues (id, title, severity, status, created_by) "
                "SELECT gen_random_uuid(), 'Late ' || g, 'HIGH', 'OPEN', CAST(:o AS uuid) "
                "FROM generate_series(1, 7) g"
            ),
            {"o": str(other_reporter.id)},
        )
    counters = assert_exact(engine)
    assert (other_reporter.id, "OPEN", "HIGH", 7) in counters
    # A reporter with no issues left can be deleted; TRUNCATE empties the counters too.
    _sql(engine, "DELETE FROM issues WHERE created_by = :o", o=str(other_reporter.id))
    _sql(engine, "DELETE FROM users WHERE id = :o", o=str(other_reporter.id))
    assert_exact(engine)
    _sql(engine, "TRUNCATE issues CASCADE")
    assert assert_exact(engine) == []
    assert as_admin.get("issues/stats/count").json() == {"total_issues": 0}


# --- (b) the API answers the same as count(*) -------------------------------------------------------


def _expected(engine: Engine, viewer: Any, params: dict[str, Any]) -> int:
    """count(*) over the issues, with the filters and the caller's scope, written out by hand."""
    where, bind = ["true"], {}
    if viewer.role.value == "REPORTER":
        where.append("created_by = :viewer")
        bind["viewer"] = str(viewer.id)
    for name in ("status", "severity"):
        values = params.get(name)
        if values:
            values = values if isinstance(values, list) else [values]
            where.append(f"{name} IN ({', '.join(f':{name}{i}' for i in range(len(values)))})")
            bind.update({f"{name}{i}": v for i, v in enumerate(values)})
    if params.get("created_by"):
        where.append("created_by = :created_by")
        bind["created_by"] = params["created_by"]
    if params.get("q"):
        where.append("search_vector @@ websearch_to_tsquery('english', :q)")
        bind["q"] = params["q"]
    if params.get("created_after"):
        where.append("created_at >= :after")
        bind["after"] = params["created_after"]
    with engine.connect() as conn:
        n = conn.scalar(text(f"SELECT count(*) FROM issues WHERE {' AND '.join(where)}"), bind)  # noqa: S608
    return int(n or 0)


def _total(api: Api, params: dict[str, Any]) -> int:
    response = api.get("issues", params={**params, "limit": 1})
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"])


@pytest.fixture
def mixed_issues(
    engine: Engine, maintainer: Any, reporter: Any, other_reporter: Any, as_reporter: Api
) -> str:
    """The issues, and the `created_after` boundary that splits the bulk rows.

    One clock reading anchors both the rows and the boundary: computing them at two moments made
    the split (and the expected counts) depend on how fast the machine ran the fixture."""
    start = datetime.now(UTC) - timedelta(days=1)
    bulk_issues(engine, maintainer.id, 240, start=start, every_nth_owner=(3, reporter.id))
    bulk_issues(engine, other_reporter.id, 30, start=start, title="Other")
    for n in range(5):
        new_issue(as_reporter, title=f"Printer jam {n}", severity=SEVERITIES[n % 4])
    _sql(engine, "UPDATE issues SET status = 'DONE' WHERE title LIKE 'Printer jam%' AND severity = 'LOW'")
    # bulk_issues rows are one second apart from `start`: this splits them (120 before, 120 after).
    return (start + timedelta(seconds=120, milliseconds=500)).isoformat()


def _filter_cases(maintainer: Any, reporter: Any, other_reporter: Any, midway: str) -> list[dict[str, Any]]:
    return [
        {},
        {"status": "OPEN"},
        {"status": ["OPEN", "DONE"]},
        {"severity": "HIGH"},
        {"severity": ["LOW", "CRITICAL"], "status": ["TRIAGED", "DONE", "IN_PROGRESS"]},
        {"created_by": str(reporter.id)},
        {"created_by": str(other_reporter.id), "status": "OPEN"},
        {"created_by": str(maintainer.id), "severity": "MEDIUM"},
        {"created_by": str(uuid.uuid4())},
        {"q": "printer"},
        {"q": "printer", "status": "DONE"},
        {"q": "bulk", "created_by": str(reporter.id)},
        {"created_after": midway},
        {"created_after": midway, "severity": "LOW"},
    ]


def test_list_totals_and_counters_match_count_star(  # noqa: PLR0917 (pytest fixtures)
    mixed_issues: str,
    as_admin: Api,
    as_maintainer: Api,
    as_reporter: Api,
    admin: Any,
    maintainer: Any,
    reporter: Any,
    other_reporter: Any,
    engine: Engine,
) -> None:
    assert_exact(engine)
    for api, viewer in ((as_admin, admin), (as_maintainer, maintainer), (as_reporter, reporter)):
        for params in _filter_cases(maintainer, reporter, other_reporter, mixed_issues):
            assert _total(api, params) == _expected(engine, viewer, params), (viewer.role, params)
        assert api.get("issues/stats/count").json() == {"total_issues": _expected(engine, viewer, {})}
        by_status = api.get("issues/stats/by-status").json()["issues_by_status"]
        assert by_status == {s: _expected(engine, viewer, {"status": s}) for s in STATUSES}
        by_severity = api.get("issues/stats/by-severity").json()["issues_by_severity"]
        assert by_severity == {s: _expected(engine, viewer, {"severity": s}) for s in SEVERITIES}
    # Zeros are reported for a status the caller has none of (its counter row is gone) ...
    _sql(engine, "DELETE FROM issues WHERE created_by = :r AND status = 'TRIAGED'", r=str(reporter.id))
    by_status = as_reporter.get("issues/stats/by-status").json()["issues_by_status"]
    assert by_status["TRIAGED"] == 0
    assert by_status == {s: _expected(engine, reporter, {"status": s}) for s in STATUSES}
    assert _total(as_reporter, {"status": "TRIAGED"}) == 0
    # ... and everywhere for a reporter with nothing at all.
    _sql(engine, "DELETE FROM issues WHERE created_by = :r", r=str(reporter.id))
    assert as_reporter.get("issues/stats/count").json() == {"total_issues": 0}
    assert as_reporter.get("issues/stats/by-status").json() == {
        "issues_by_status": dict.fromkeys(STATUSES, 0)
    }
    assert as_reporter.get("issues/stats/by-severity").json() == {
        "issues_by_severity": dict.fromkeys(SEVERITIES, 0)
    }
    assert _total(as_reporter, {}) == 0


def test_totals_come_from_the_counters_only_without_text_or_date_filters(  # noqa: PLR0917 (pytest fixtures)
    mixed_issues: str,
    as_maintainer: Api,
    as_reporter: Api,
    maintainer: Any,
    reporter: Any,
    other_reporter: Any,
    engine: Engine,
) -> None:
    """Skew the counters on purpose: totals that read them move, exact counts do not."""
    exact = {
        (role, i): _total(api, params)
        for role, api in (("staff", as_maintainer), ("reporter", as_reporter))
        for i, params in enumerate(_filter_cases(maintainer, reporter, other_reporter, mixed_issues))
    }
    _sql(engine, "UPDATE issue_counts SET n = n + 1000")
    for role, api in (("staff", as_maintainer), ("reporter", as_reporter)):
        for i, params in enumerate(_filter_cases(maintainer, reporter, other_reporter, mixed_issues)):
            uses_counters = not ({"q", "created_after"} & params.keys())
            skewed = _total(api, params)
            if not uses_counters or (exact[(role, i)] == 0 and skewed == 0):
                assert skewed == exact[(role, i)], (role, params)
            else:
                assert skewed > exact[(role, i)] + 999, (role, params)
    assert as_reporter.get("issues/stats/count").json()["total_issues"] > 1000
    # The last page of an offset listing is still counted from its rows.
    response = as_reporter.get("issues", params={"limit": 100})
    assert int(response.headers["X-Total-Count"]) == len(response.json()) == exact[("reporter", 0)]


# --- (c) transactional -------------------------------------------------------------------------------


def _change_then_fail(issue_id: uuid.UUID, actor_id: uuid.UUID) -> None:
    with db.session_scope() as session:
        actor = session.get(User, actor_id)
        assert actor is not None
        service.create_issue(
            IssueCreate(title="Never committed", severity="CRITICAL"), actor=actor, session=session
        )
        service.update_issue(issue_id, IssueUpdate(status="DONE"), actor=actor, session=session)
        # Inside the transaction the counters already include both changes.
        assert service.count_issues(viewer=actor, session=session) == 42
        by_status = dict(session.execute(text("SELECT status, count(*) FROM issues GROUP BY 1")).all())
        assert service.count_by_status(viewer=actor, session=session) == {
            s: by_status.get(s.value, 0) for s in Status
        }
        by_severity = dict(session.execute(text("SELECT severity, count(*) FROM issues GROUP BY 1")).all())
        assert service.count_by_severity(viewer=actor, session=session) == {
            s: by_severity.get(s.value, 0) for s in Severity
        }
        assert _counters(session.connection()) == _grouped(session.connection())
        raise RuntimeError("boom")


def test_a_rolled_back_change_leaves_the_counters_unchanged(
    as_reporter: Api, as_maintainer: Api, reporter: Any, maintainer: Any, engine: Engine
) -> None:
    issue = new_issue(as_reporter, severity="HIGH")
    bulk_issues(engine, maintainer.id, 40)
    before = assert_exact(engine)

    # Raw SQL: inside the transaction the counters already follow; after rollback nothing changed.
    with engine.connect() as conn:
        conn.execute(
            text("DELETE FROM issues WHERE created_by = :m AND status = 'OPEN'"), {"m": str(maintainer.id)}
        )
        conn.execute(text("UPDATE issues SET status = 'DONE', severity = 'LOW'"))
        bulk_rows = (
            "INSERT INTO issues (id, title, severity, status, created_by) "
            "SELECT gen_random_uuid(), 't', 'LOW', 'OPEN', :r FROM generate_series(1, 5)"
        )
        conn.execute(text(bulk_rows), {"r": str(reporter.id)})
        assert _counters(conn) == _grouped(conn) != before
        conn.rollback()
    assert assert_exact(engine) == before

    # Through the service: a create and a status change, then a failure before commit.
    with pytest.raises(RuntimeError, match="boom"):
        _change_then_fail(uuid.UUID(issue["id"]), maintainer.id)
    assert assert_exact(engine) == before
    assert as_maintainer.get("issues/stats/count").json() == {"total_issues": 41}
    assert as_reporter.get("issues/stats/by-status").json()["issues_by_status"]["OPEN"] == 1


def test_a_group_emptied_while_another_transaction_adds_to_it(
    as_reporter: Api, reporter: Any, engine: Engine
) -> None:
    """T1 deletes the last issue of a group (its counter row goes); T2 inserts into the same group
    meanwhile and waits on the counter row lock; after T1 commits T2's upsert inserts afresh."""
    issue = new_issue(as_reporter, severity="HIGH")
    insert = text(
        "INSERT INTO issues (id, title, severity, status, created_by) "
        "VALUES (gen_random_uuid(), 'Concurrent', 'HIGH', 'OPEN', :r)"
    )
    errors: list[BaseException] = []
    done = threading.Event()

    def second() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                conn.execute(insert, {"r": str(reporter.id)})
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            done.set()

    with engine.connect() as conn:
        conn.execute(text("DELETE FROM issues WHERE id = :i"), {"i": issue["id"]})
        thread = threading.Thread(target=second)
        thread.start()
        wait_for_lock_wait(engine)
        assert not done.is_set()  # T2 queues behind T1's counter row
        conn.commit()
    thread.join(15)
    assert not errors, errors
    assert assert_exact(engine) == [(reporter.id, "OPEN", "HIGH", 1)]


# --- (d) the migration ---------------------------------------------------------------------------------


def test_migration_backfills_existing_issues_and_downgrades_cleanly(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        schema.upgrade(empty_database, "0001")
        with engine.begin() as conn:
            owners = [uuid.uuid4() for _ in range(3)]
            for n, owner in enumerate(owners):
                conn.execute(
                    text(
                        "INSERT INTO users (id, email, full_name, role) "
                        "VALUES (:id, :email, 'Someone', 'REPORTER')"
                    ),
                    {"id": owner, "email": f"u{n}@example.com"},
                )
            conn.execute(
                text(
                    "INSERT INTO issues (id, title, severity, status, created_by) "
                    "SELECT gen_random_uuid(), 'Old ' || g, (ARRAY['LOW','MEDIUM','HIGH','CRITICAL'])[1 + g % 4], "
                    "(ARRAY['OPEN','TRIAGED','IN_PROGRESS','DONE'])[1 + g % 3], "
                    "(CAST(:owners AS uuid[]))[1 + (g / 7) % 3] FROM generate_series(1, 500) g"
                ),
                {"owners": [str(o) for o in owners]},
            )
        schema.upgrade(empty_database)
        assert len(assert_exact(engine)) > 12
        _sql(engine, "UPDATE issues SET status = 'DONE' WHERE severity = 'HIGH'")
        assert_exact(engine)

        schema.downgrade(empty_database, "0001")
        engine.dispose()
        assert "issue_counts" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'issue_counts%'")) == 0
            assert conn.scalar(text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'issue_counts%'")) == 0
        _sql(engine, "DELETE FROM issues WHERE status = 'OPEN'")  # no trigger left to fail

        schema.upgrade(empty_database)
        engine.dispose()
        assert_exact(engine)
        from alembic import command

        command.check(schema.alembic_config(empty_database))
    finally:
        engine.dispose()
