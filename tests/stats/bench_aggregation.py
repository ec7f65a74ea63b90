"""Generate a large, realistic issue history with set-based SQL and time the statistics runs.

    psql -h 127.0.0.1 -U postgres -c 'create database trackly_stats_bench'
    .venv/bin/python -m tests.stats.bench_aggregation \\
        --database-url postgresql://postgres@127.0.0.1:5432/trackly_stats_bench --issues 1000000

Not collected by pytest (no `test_` prefix). `generate(conn, issues=..., days=...)` is reusable by
other benchmarks: it fills `users` (one owner), `issues` (final state) and `events` (the history,
following the payload convention of trackly/events/service.py) over the last `days` days:

- every issue: `issue_created` (OPEN) at a random moment, creation rate growing over time;
- then one of six paths, one step every 1-96 hours (per issue), dropping steps after now:
  stays OPEN | TRIAGED, IN_PROGRESS, DONE | DONE | TRIAGED, DONE, OPEN (reopened) |
  TRIAGED, IN_PROGRESS, DONE, deleted | severity changed (issue_updated), TRIAGED, IN_PROGRESS.
  On average about 3.3 events per issue.
"""

from __future__ import annotations

import argparse
import os
import time

from sqlalchemy import Connection, create_engine, text

# (path, step, event type, status after the step, uses the changed severity)
PATH_STEPS = [
    (0, 0, "issue_created", "OPEN", False),
    (1, 0, "issue_created", "OPEN", False),
    (1, 1, "issue_status_changed", "TRIAGED", False),
    (1, 2, "issue_status_changed", "IN_PROGRESS", False),
    (1, 3, "issue_status_changed", "DONE", False),
    (2, 0, "issue_created", "OPEN", False),
    (2, 1, "issue_status_changed", "DONE", False),
    (3, 0, "issue_created", "OPEN", False),
    (3, 1, "issue_status_changed", "TRIAGED", False),
    (3, 2, "issue_status_changed", "DONE", False),
    (3, 3, "issue_status_changed", "OPEN", False),
    (4, 0, "issue_created", "OPEN", False),
    (4, 1, "issue_status_changed", "TRIAGED", False),
    (4, 2, "issue_status_changed", "IN_PROGRESS", False),
    (4, 3, "issue_status_changed", "DONE", False),
    (4, 4, "issue_deleted", "DONE", False),
    (5, 0, "issue_created", "OPEN", False),
    (5, 1, "issue_updated", "OPEN", True),
    (5, 2, "issue_status_changed", "TRIAGED", True),
    (5, 3, "issue_status_changed", "IN_PROGRESS", True),
]
# Share of issues per path 0..5 (cumulative thresholds on random()).
PATH_THRESHOLDS = (0.15, 0.45, 0.60, 0.75, 0.85, 1.0)

_STEPS_VALUES = ", ".join(
    f"({p}, {s}, '{t}', '{st}', {str(changed).lower()})" for p, s, t, st, changed in PATH_STEPS
)
_PATH_CASE = "CASE " + " ".join(f"WHEN r < {th} THEN {i}" for i, th in enumerate(PATH_THRESHOLDS)) + " END"
_SEVERITY = "(ARRAY['LOW','MEDIUM','HIGH','CRITICAL'])[1 + floor(random() * 4)::int]"


def generate(conn: Connection, *, issues: int, days: int = 730, seed: float = 0.42) -> dict[str, int]:
    """Insert `issues` issues and their events spread over the last `days` days (set-based SQL)."""
    conn.execute(text("SELECT setseed(:seed)"), {"seed": seed})
    owner = conn.execute(
        text(
            "INSERT INTO users (id, email, full_name, role, password_hash) "
            "VALUES (gen_random_uuid(), 'bench-owner-' || gen_random_uuid() || '@example.com', "
            "'Bench Owner', 'REPORTER', NULL) RETURNING id"
        )
    ).scalar_one()
    conn.execute(text("DROP TABLE IF EXISTS bench_issues"))
    # sqrt() skews creation towards recent days (a growing project).
    conn.execute(
        text(
            f"""
            CREATE TEMP TABLE bench_issues AS
            SELECT gen_random_uuid() AS id, n,
                   now() - make_interval(secs => (1 - sqrt(random())) * :days * 86400) AS created_at,
                   {_SEVERITY} AS severity0, {_SEVERITY} AS severity1,
                   {_PATH_CASE.replace("r <", "x.r <")} AS path,
                   make_interval(secs => (1 + random() * 95) * 3600) AS gap
            FROM generate_series(1, :issues) n, LATERAL (SELECT random() + n * 0 AS r) x
            """  # noqa: S608 (constants only)
        ),
        {"issues": issues, "days": days},
    )
    conn.execute(text("DROP TABLE IF EXISTS bench_events"))
    conn.execute(
        text(
            f"""
            CREATE TEMP TABLE bench_events AS
            SELECT i.id AS issue_id, i.n, s.step, s.type, s.status,
                   CASE WHEN s.changed THEN i.severity1 ELSE i.severity0 END AS severity,
                   i.created_at AS issue_created_at,
                   i.created_at + s.step * i.gap AS at,
                   max(s.step) OVER (PARTITION BY i.id) AS last_step
            FROM bench_issues i
            JOIN (VALUES {_STEPS_VALUES}) AS s(path, step, type, status, changed) ON s.path = i.path
            WHERE i.created_at + s.step * i.gap <= now()
            """  # noqa: S608 (constants only)
        )
    )
    events = conn.execute(
        text(
            """
            INSERT INTO events (type, issue_id, actor_id, audience_owner_id, payload, created_at, published_at)
            SELECT e.type, e.issue_id, CAST(:owner AS uuid), CAST(:owner AS uuid),
                   jsonb_build_object(
                       'changes', CASE
                           WHEN e.type = 'issue_created' THEN jsonb_build_object(
                               'title', jsonb_build_array(NULL, 'Issue ' || e.n),
                               'severity', jsonb_build_array(NULL, e.severity),
                               'status', jsonb_build_array(NULL, 'OPEN'))
                           WHEN e.type = 'issue_deleted' THEN '{}'::jsonb
                           WHEN e.type = 'issue_updated' THEN jsonb_build_object(
                               'severity', jsonb_build_array(NULL, e.severity))
                           ELSE jsonb_build_object('status', jsonb_build_array(NULL, e.status)) END,
                       'issue', jsonb_build_object(
                           'title', 'Issue ' || e.n, 'status', e.status, 'severity', e.severity,
                           'created_by', CAST(:owner AS text), 'created_at', e.issue_created_at),
                       'actor_name', 'Bench Owner'),
                   e.at, e.at
            FROM bench_events e
            ORDER BY e.at
            """
        ),
        {"owner": owner},
    ).rowcount
    created = conn.execute(
        text(
            """
            INSERT INTO issues (id, title, description, severity, status, created_by, updated_by,
                                created_at, updated_at, version)
            SELECT e.issue_id, 'Issue ' || e.n, '', e.severity, e.status, CAST(:owner AS uuid),
                   CAST(:owner AS uuid), e.issue_created_at, e.at, e.step + 1
            FROM bench_events e
            WHERE e.step = e.last_step AND e.type <> 'issue_deleted'
            """
        ),
        {"owner": owner},
    ).rowcount
    conn.execute(text("DROP TABLE bench_issues"))
    conn.execute(text("DROP TABLE bench_events"))
    return {"issues_generated": issues, "issues_alive": created, "events": events}


def _timed(label: str, fn: object) -> float:
    started = time.perf_counter()
    result = fn()  # type: ignore[operator]
    elapsed = time.perf_counter() - started
    print(f"{label}: {elapsed:.2f} s  ({result})")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True, help="a scratch database (its data is replaced)")
    parser.add_argument("--issues", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the data already there")
    args = parser.parse_args()

    os.environ.update(
        {"DATABASE_URL": args.database_url, "TRACKLY_ENV": "development", "LOG_LEVEL": "WARNING"}
    )
    from trackly import db, schema
    from trackly.config import reset_settings
    from trackly.db import normalize_url
    from trackly.stats import service

    reset_settings()
    db.dispose_engine()
    schema.upgrade(args.database_url)
    engine = create_engine(normalize_url(args.database_url))
    if not args.skip_generate:
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE daily_stats, events, attachments, issues RESTART IDENTITY CASCADE"))
        with engine.begin() as conn:
            _timed("generate", lambda: generate(conn, issues=args.issues, days=args.days))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE events"))
            conn.execute(text("VACUUM ANALYZE issues"))
    with engine.connect() as conn:
        print(
            "events:",
            conn.execute(text("SELECT count(*) FROM events")).scalar(),
            "size:",
            conn.execute(text("SELECT pg_size_pretty(pg_total_relation_size('events'))")).scalar(),
        )
        conn.execute(text("TRUNCATE daily_stats"))
        conn.commit()

    def full() -> object:
        with db.session_scope() as session:
            first = service.first_event_day(session=session)
            assert first is not None
            o = service.rebuild(first, service.utc_today(), session=session, settings=None)
            return f"{o.days} days, {o.rows} rows"

    def chunked() -> object:
        with db.session_scope() as session:
            first = service.first_event_day(session=session)
            assert first is not None
            o = service.rebuild(
                first,
                service.utc_today(),
                session=session,
                settings=None,
                chunk_days=service.PROGRESS_CHUNK_DAYS,
            )
            return f"{o.days} days, {o.rows} rows"

    def scheduled() -> object:
        with db.session_scope() as session:
            o = service.run_scheduled(session=session, settings=service_settings())
            return f"{o.days} days, {o.rows} rows, ranges {o.ranges}"

    def naive_today() -> object:
        with db.session_scope() as session:
            return service.state_at_end_of(service.utc_today(), session=session)["total_issues"]

    def service_settings() -> object:
        from trackly.config import get_settings

        return get_settings()

    _timed("full backfill, one statement", full)
    _timed("full backfill, CLI chunks of 92 days", chunked)
    with engine.begin() as conn:  # make every past row final, as after a day of timer runs
        conn.execute(
            text(
                "UPDATE daily_stats SET computed_at = (date + 1)::timestamp AT TIME ZONE 'UTC' + interval '1 hour'"
            )
        )
        conn.execute(
            text("UPDATE daily_stats SET computed_at = now() WHERE date = (now() AT TIME ZONE 'UTC')::date")
        )
    _timed("incremental timer run (today)", scheduled)
    _timed("incremental timer run again", scheduled)
    yesterday_missing = "DELETE FROM daily_stats WHERE date >= (now() AT TIME ZONE 'UTC')::date - 1"
    with engine.begin() as conn:
        conn.execute(text(yesterday_missing))
    _timed("timer run after midnight (yesterday + today)", scheduled)
    _timed("naive DISTINCT ON state of one day (for comparison)", naive_today)
    with db.session_scope() as session:
        stored = session.execute(
            text("SELECT total_issues, status_done FROM daily_stats ORDER BY date DESC LIMIT 1")
        ).one()
        naive = service.state_at_end_of(service.utc_today(), session=session)
        print(
            "today total/done stored:", tuple(stored), "naive:", (naive["total_issues"], naive["status_done"])
        )


if __name__ == "__main__":
    main()
