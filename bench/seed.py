"""Fill a PostgreSQL database with realistic Trackly data, fast.

    python -m bench.seed --issues 100000 [--database-url URL] [--chunk 100000]

Everything is set-based SQL (INSERT ... SELECT over generate_series, in chunks), run with the
issue/event indexes dropped and rebuilt at the end, so 1,000,000 issues take minutes.

What it creates (the existing rows of these tables are removed first):
- users: 2 admins, 8 maintainers, 200 reporters (bench-<role>-<n>@bench.trackly.test, all with
  the password in bench.common.BENCH_PASSWORD). Reporters' issue counts are heavily skewed
  (reporter 1 files roughly 10 % of all issues, most file a handful).
- issues over the last two years: more recent than old, severities skewed (LOW 30 %, MEDIUM 45 %,
  HIGH 18 %, CRITICAL 7 %), statuses depending on age (old issues are mostly DONE), titles and
  descriptions built from a vocabulary so full-text search finds things.
- events as the issues service writes them (trackly/events/service.py): one issue_created per
  issue and a status-change history OPEN -> TRIAGED -> IN_PROGRESS -> DONE that ends in the
  issue's current status; payload.changes, payload.issue (snapshot after the change, assignee
  included), payload.actor_name. An issue's events (comments included) are inserted in time
  order, so their ids follow their created_at. All marked published (the outbox timer has
  nothing to do).
- attachments: about one issue in eight has one or two ACTIVE attachment rows (fake blob names).
- collaboration: 12 labels; three issues in four carry one or two; issues that left OPEN are
  mostly assigned to the staff member who moved them (half of them in the PATCH of the first
  status change, half by an issue_assigned event before it); 0-3 comments per issue (1.5 on
  average, the first by staff), each with its comment_added event whose snapshot shows the issue
  as it was at that moment; the creator, the assignee and the commenters watch.
daily_stats is left empty, so the statistics backfill has work to do.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import psycopg2

from bench.common import BENCH_EMAIL_DOMAIN, BENCH_PASSWORD, bench_url, ensure_database

ADMINS, MAINTAINERS, REPORTERS = 2, 8, 200
TABLES = ("users", "issues", "events", "attachments", "issue_labels", "comments")

COMPONENTS = [
    "login page",
    "dashboard",
    "issue list",
    "export to CSV",
    "search box",
    "attachment upload",
    "email notifications",
    "settings page",
    "user profile",
    "password reset",
    "API gateway",
    "billing report",
    "mobile layout",
    "dark mode",
    "PDF preview",
    "calendar sync",
    "audit log",
    "webhook delivery",
    "SSO redirect",
    "statistics chart",
    "markdown editor",
    "date picker",
    "import wizard",
    "permissions screen",
    "session timeout",
    "file download",
    "status badge",
]
LABELS = [
    "bug", "regression", "performance", "security", "ui", "api", "docs", "mobile",
    "customer", "needs-info", "good first issue", "wontfix",
]  # fmt: skip
PROBLEMS = [
    "crashes when",
    "is slow when",
    "shows the wrong total when",
    "returns 500 when",
    "loses changes when",
    "does not load when",
    "times out when",
    "renders blank when",
    "duplicates entries when",
    "ignores the filter when",
    "freezes the browser when",
    "logs the user out when",
]
TRIGGERS = [
    "the list has more than 100 rows",
    "the user switches language",
    "two tabs are open",
    "the network is offline",
    "a filename contains unicode",
    "the token has expired",
    "Safari is used",
    "the window is resized",
    "an admin changes roles",
    "the session is restored",
    "the upload exceeds 10 MB",
    "sorting by severity",
    "the timezone is not UTC",
]
DETAILS = [
    "Steps to reproduce: open the page, apply a filter and scroll down.",
    "Expected the counter to update immediately; it only updates after a reload.",
    "The console shows a TypeError in the bundle.",
    "Happens on staging and production, not locally.",
    "Customer reports this blocks their weekly reporting.",
    "Regression since the last release; worked in the previous version.",
    "Attached a screenshot of the stack trace and the network tab.",
    "Workaround: clearing the cache and signing in again.",
    "Database latency spikes at the same time according to the dashboard.",
    "Only users with the REPORTER role are affected.",
]


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(array_sql: str, n: int, rnd: str = "random()") -> str:
    return f"({array_sql})[1 + floor({rnd} * {n})::int]"


def _password_hash() -> str:
    from trackly.auth.passwords import hash_password

    return hash_password(BENCH_PASSWORD)


def _drop_indexes(cur: Any, tables: list[str]) -> list[str]:
    """Drop the secondary (non-constraint) indexes of `tables`; return their definitions."""
    cur.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        (tables,),
    )
    rows = cur.fetchall()
    for name, _ in rows:
        cur.execute(f'DROP INDEX IF EXISTS "{name}"')
    return [definition for _, definition in rows]


def seed(url: str, issues: int, chunk: int = 100_000) -> dict[str, Any]:
    started = time.perf_counter()
    ensure_database(url)
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    cur.execute("SET synchronous_commit = off")
    cur.execute("SET maintenance_work_mem = '512MB'")
    cur.execute("SET work_mem = '64MB'")

    print(f"seeding {issues:,} issues into {url.rsplit('@', 1)[-1]}")
    cur.execute(
        "TRUNCATE attachments, events, idempotency_keys, daily_stats, issues, refresh_tokens, "
        "login_throttle, sso_links, auth_flows, login_codes, labels, users RESTART IDENTITY CASCADE"
    )
    pw = _password_hash()
    cur.execute(
        f"""
        INSERT INTO users (id, email, full_name, role, password_hash, is_active, created_at, updated_at)
        SELECT gen_random_uuid(), format('bench-%%s-%%s@{BENCH_EMAIL_DOMAIN}', lower(r.role), g),
               format('%%s %%s', initcap(lower(r.role)), g), r.role, %s, true,
               now() - interval '800 days', now() - interval '800 days'
        FROM (VALUES ('ADMIN', {ADMINS}), ('MAINTAINER', {MAINTAINERS}), ('REPORTER', {REPORTERS}))
             AS r(role, n), generate_series(1, r.n) g
        """,
        (pw,),
    )
    # Numbered helper tables: reporters by skew rank, staff (admins + maintainers) as actors.
    cur.execute(
        f"""
        CREATE TEMP TABLE bench_reporters AS
        SELECT (row_number() OVER (ORDER BY email COLLATE "C"))::int - 1 AS idx, id, full_name
        FROM users WHERE role = 'REPORTER' AND email LIKE '%%@{BENCH_EMAIL_DOMAIN}';
        CREATE TEMP TABLE bench_staff AS
        SELECT (row_number() OVER (ORDER BY email COLLATE "C"))::int - 1 AS idx, id, full_name
        FROM users WHERE role <> 'REPORTER';
        """
    )
    # Order reporters so that bench-reporter-1 is the heaviest filer.
    cur.execute(
        "UPDATE bench_reporters b SET idx = (split_part(split_part(u.email, '@', 1), '-', 3))::int - 1 "
        "FROM users u WHERE u.id = b.id"
    )
    cur.execute("CREATE UNIQUE INDEX ON bench_reporters (idx); CREATE UNIQUE INDEX ON bench_staff (idx)")
    cur.execute(
        f"""
        CREATE TEMP TABLE bench_labels AS
        SELECT (g - 1) AS idx, gen_random_uuid() AS id, name
        FROM unnest({_sql_array(LABELS)}) WITH ORDINALITY AS l(name, g);
        INSERT INTO labels (id, name, color, description, created_at)
        SELECT id, name, '#' || lpad(to_hex((idx * 1234567) % 16777216), 6, '0'), '',
               now() - interval '800 days'
        FROM bench_labels;
        SELECT count(*) FROM bench_staff;
        """
    )
    staff = cur.fetchone()[0]
    dropped = _drop_indexes(cur, ["issues", "events", "attachments"])
    conn.commit()
    print(f"  users: {ADMINS + MAINTAINERS + REPORTERS} ({time.perf_counter() - started:.1f} s)")

    comp, prob, trig, det = (_sql_array(x) for x in (COMPONENTS, PROBLEMS, TRIGGERS, DETAILS))
    statuses = "ARRAY['OPEN','TRIAGED','IN_PROGRESS','DONE']"
    done = 0
    while done < issues:
        n = min(chunk, issues - done)
        t0 = time.perf_counter()
        cur.execute("DROP TABLE IF EXISTS stage")
        # One staging row per issue: attributes, number of status steps, timestamps.
        cur.execute(
            f"""
            CREATE TEMP TABLE stage AS
            WITH base AS (
              SELECT g,
                     gen_random_uuid() AS id,
                     -- heavy skew: power-law over 200 reporters
                     least({REPORTERS - 1}, floor({REPORTERS} * power(random(), 3.5))::int) AS rep_idx,
                     random() AS rs, random() AS rage, random() AS rspan,
                     (g % {staff}) AS staff_idx
              FROM generate_series({done + 1}, {done + n}) g
            ), timed AS (
              SELECT *,
                     -- two years, more recent issues than old ones
                     now() - interval '730 days' * power(rage, 1.6) - interval '1 second' * (g % 997)
                       AS created_at,
                     power(rage, 1.6) AS age
              FROM base
            )
            SELECT t.g, t.id, r.id AS created_by, r.full_name AS reporter_name,
                   s.id AS staff_id, s.full_name AS staff_name,
                   CASE WHEN t.rs < 0.30 THEN 'LOW' WHEN t.rs < 0.75 THEN 'MEDIUM'
                        WHEN t.rs < 0.93 THEN 'HIGH' ELSE 'CRITICAL' END AS severity,
                   -- steps through the workflow: older issues went further
                   CASE WHEN random() < 0.15 + 0.8 * t.age THEN 3
                        ELSE floor(random() * 3)::int END AS steps,
                   t.created_at,
                   least(now(), t.created_at + interval '30 days' * t.rspan) AS last_change,
                   {_pick(comp, len(COMPONENTS))} || ' ' || {_pick(prob, len(PROBLEMS))} || ' '
                     || {_pick(trig, len(TRIGGERS))} AS title,
                   {_pick(det, len(DETAILS))} || E'\\n\\n' || {_pick(det, len(DETAILS))} || E'\\n\\n'
                     || 'Reported by ' || r.full_name || ' on build ' || (t.g % 500)::text || '.'
                     AS description
            FROM timed t
            JOIN bench_reporters r ON r.idx = t.rep_idx
            JOIN bench_staff s ON s.idx = t.staff_idx
            """
        )
        cur.execute(
            f"""
            INSERT INTO issues (id, title, description, severity, status, created_by, updated_by,
                                file_url, version, created_at, updated_at, assignee_id,
                                labels, comment_count)
            SELECT id, title, description, severity, ({statuses})[steps + 1], created_by,
                   CASE WHEN steps > 0 THEN staff_id ELSE created_by END, NULL, 1 + steps,
                   created_at, CASE WHEN steps > 0 THEN last_change ELSE created_at END,
                   CASE WHEN steps > 0 AND g % 5 <> 0 THEN staff_id END,
                   (SELECT coalesce(jsonb_agg(jsonb_build_object('id', l.id, 'name', l.name, 'color', l.color)
                                              ORDER BY lower(l.name), l.id), '[]'::jsonb)
                    FROM bench_labels b JOIN labels l ON l.id = b.id
                    WHERE {_labelled("stage", "b", len(LABELS))}),
                   {_COMMENTS_PER_ISSUE.format(s="stage")}
            FROM stage
            """
        )
        _stage_history(cur)
        _insert_events(cur, statuses)
        cur.execute(
            """
            INSERT INTO attachments (id, issue_id, uploaded_by, blob_name, filename, content_type,
                                     size_bytes, status, created_at, completed_at)
            SELECT gen_random_uuid(), s.id, s.created_by,
                   'issues/' || s.id || '/' || gen_random_uuid() || '.png',
                   'screenshot-' || k || '.png', 'image/png',
                   20000 + (s.g::bigint * 7919 % 2000000), 'ACTIVE',
                   s.created_at + interval '1 minute' * k, s.created_at + interval '1 minute' * k
            FROM stage s, generate_series(1, 1 + (s.g % 2)) k
            WHERE s.g % 8 = 0
            """
        )
        _seed_collaboration(cur, len(LABELS))
        conn.commit()
        done += n
        print(
            f"  issues: {done:,}/{issues:,}  (+{n:,} in {time.perf_counter() - t0:.1f} s, "
            f"total {time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    t0 = time.perf_counter()
    conn.autocommit = True
    for definition in dropped:
        cur.execute(definition)
    print(f"  rebuilt {len(dropped)} indexes in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    for table in (*TABLES, "labels", "watchers"):
        cur.execute(f"VACUUM (ANALYZE) {table}")
    print(f"  vacuum analyze in {time.perf_counter() - t0:.1f} s")
    counts = {}
    for table in TABLES:
        cur.execute(f"SELECT count(*) FROM {table}")
        counts[table] = cur.fetchone()[0]
    conn.close()
    elapsed = time.perf_counter() - started
    print(
        "done: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()) + f" in {elapsed:.1f} s",
        flush=True,
    )
    return {"counts": counts, "seconds": elapsed}


# Which labels and how many comments issue number g gets. The issue row is inserted with the
# summary these make (labels as the API renders them, comment count), so the seed switches off
# the triggers that keep that summary (migration 0007) while it inserts them: otherwise each
# issue row is rewritten twice more, doubling the seed's time.
def _labelled(stage: str, label: str, labels: int) -> str:
    g = f"{stage}.g"
    return f"{g} % 4 <> 0 AND {label}.idx IN ({g} % {labels}, ({g} * 7 + {g} / 3) % {labels})"


_COMMENTS_PER_ISSUE = "({s}.g % 4)"
_SUMMARY_TRIGGERS = (("issue_labels", "issue_labels_summary_insert"), ("comments", "comments_summary_insert"))


def _step_at(k: str) -> str:
    """When status step `k` of a staged issue `s` happened (its steps spread evenly to last_change)."""
    return f"s.created_at + (s.last_change - s.created_at) * {k} / s.steps"


def _insert_events(cur: Any, statuses: str) -> None:
    """The events of the staged issues and comments, in one statement ordered by time (an issue's
    events get ids in the order they happened)."""
    # The snapshot after the change, as trackly.events.service.issue_snapshot writes it.
    snapshot = (
        "jsonb_build_object('title', s.title, 'status', {status}, 'severity', s.severity, "
        "'created_by', s.created_by::text, 'created_at', to_jsonb(s.created_at), "
        "'assignee_id', {assignee})"
    )
    assignee_then = "CASE WHEN s.assigned_at <= {at} THEN s.staff_id::text END"
    step_snapshot = snapshot.format(
        status=f"({statuses})[k + 1]", assignee=assignee_then.format(at=_step_at("k"))
    )
    comment_snapshot = snapshot.format(
        status=f"({statuses})[c.reached + 1]", assignee=assignee_then.format(at="c.at")
    )
    cur.execute(
        f"""
        INSERT INTO events (type, issue_id, actor_id, audience_owner_id, payload,
                            created_at, published_at)
        SELECT type, issue_id, actor_id, audience_owner_id, payload, at, at FROM (
          SELECT s.g, 0 AS step, 'issue_created' AS type, s.id AS issue_id, s.created_by AS actor_id,
                 s.created_by AS audience_owner_id,
                 jsonb_build_object(
                   'changes', jsonb_build_object('title', jsonb_build_array(NULL, s.title),
                                                 'description', jsonb_build_array(NULL, s.description),
                                                 'severity', jsonb_build_array(NULL, s.severity),
                                                 'status', jsonb_build_array(NULL, 'OPEN')),
                   'issue', {snapshot.format(status="'OPEN'", assignee="NULL")},
                   'actor_name', s.reporter_name) AS payload,
                 s.created_at AS at
          FROM stage s
          UNION ALL
          SELECT s.g, 0.5, 'issue_assigned', s.id, s.staff_id, s.created_by,
                 jsonb_build_object(
                   'changes', jsonb_build_object('assignee_id',
                                                 jsonb_build_array(NULL, s.staff_id::text)),
                   'issue', {snapshot.format(status="'OPEN'", assignee="s.staff_id::text")},
                   'actor_name', s.staff_name),
                 s.assigned_at
          FROM stage s
          WHERE s.g % 5 IN (3, 4) AND s.assigned_at IS NOT NULL
          UNION ALL
          SELECT s.g, k, 'issue_status_changed', s.id, s.staff_id, s.created_by,
                 jsonb_build_object(
                   'changes', jsonb_build_object('status',
                       jsonb_build_array(({statuses})[k], ({statuses})[k + 1]))
                     || CASE WHEN k = 1 AND s.g % 5 IN (1, 2) THEN
                          jsonb_build_object('assignee_id', jsonb_build_array(NULL, s.staff_id::text))
                        ELSE '{{}}'::jsonb END,
                   'issue', {step_snapshot},
                   'actor_name', s.staff_name),
                 {_step_at("k")}
          FROM stage s, generate_series(1, s.steps) k
          UNION ALL
          SELECT s.g, 10 + c.k, 'comment_added', s.id, c.author_id, s.created_by,
                 jsonb_build_object(
                   'changes', jsonb_build_object('body', jsonb_build_array(NULL, c.body)),
                   'issue', {comment_snapshot},
                   'actor_name', c.author_name,
                   'comment', jsonb_build_object('id', c.id::text, 'author_id', c.author_id::text,
                                                 'staff_response', c.k % 2 = 1)),
                 c.at
          FROM stage_comments c JOIN stage s ON s.id = c.issue_id
        ) e ORDER BY at, g, step
        """
    )


def _stage_history(cur: Any) -> None:
    """What the events of the staged issues need besides `stage`:
    - `stage.assigned_at`: when the issue got its assignee (NULL: never): g % 5 in (1, 2) in the
      PATCH of the first status change, g % 5 in (3, 4) by an issue_assigned event halfway to it;
    - `stage_comments`: comment k of an issue, the first by the staff member, then alternating
      with the reporter, spread over the issue's life; `reached` is how many status steps were
      taken by then (its comment_added snapshot shows the issue as it was at that moment)."""
    cur.execute(
        f"""
        ALTER TABLE stage ADD COLUMN assigned_at timestamptz;
        UPDATE stage s SET assigned_at = CASE
            WHEN s.g % 5 IN (1, 2) THEN {_step_at("1")}
            ELSE s.created_at + (s.last_change - s.created_at) / (2 * s.steps) END
        WHERE s.steps > 0 AND s.g % 5 <> 0;
        """
    )
    cur.execute(
        f"""
        CREATE TEMP TABLE stage_comments ON COMMIT DROP AS
        SELECT c.*, (SELECT count(*) FROM generate_series(1, s.steps) j WHERE {_step_at("j")} <= c.at)::int
                      AS reached
        FROM (
          SELECT gen_random_uuid() AS id, s.id AS issue_id, k,
                 CASE WHEN k % 2 = 1 THEN s.staff_id ELSE s.created_by END AS author_id,
                 CASE WHEN k % 2 = 1 THEN s.staff_name ELSE s.reporter_name END AS author_name,
                 'Comment ' || k || ' on issue ' || s.g || ': ' || left(s.description, 80) AS body,
                 s.created_at + interval '1 minute' + (s.last_change - s.created_at) * k / 4 AS at
          FROM stage s, generate_series(1, {_COMMENTS_PER_ISSUE.format(s="s")}) k
        ) c
        JOIN stage s ON s.id = c.issue_id
        """
    )


def _seed_collaboration(cur: Any, labels: int) -> None:
    """Labels, comment rows (their events are written with the others) and watchers of the issues
    in `stage` (whose rows already carry the summary of these labels and comments)."""
    for table, trigger in _SUMMARY_TRIGGERS:  # back on before this chunk's transaction commits
        cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    cur.execute(
        f"""
        INSERT INTO issue_labels (issue_id, label_id)
        SELECT DISTINCT s.id, l.id
        FROM stage s
        JOIN bench_labels l ON {_labelled("s", "l", labels)}
        """
    )
    cur.execute(
        """
        INSERT INTO comments (id, issue_id, author_id, body, version, created_at, updated_at)
        SELECT id, issue_id, author_id, body, 1, at, at FROM stage_comments;
        INSERT INTO watchers (issue_id, user_id, created_at)
        SELECT issue_id, user_id, min(at) FROM (
          SELECT s.id AS issue_id, s.created_by AS user_id, s.created_at AS at FROM stage s
          UNION ALL SELECT i.id, i.assignee_id, i.updated_at FROM stage s JOIN issues i ON i.id = s.id
            WHERE i.assignee_id IS NOT NULL
          UNION ALL SELECT issue_id, author_id, at FROM stage_comments
        ) w GROUP BY issue_id, user_id;
        """
    )
    for table, trigger in _SUMMARY_TRIGGERS:
        cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
    # The rows written above must carry what the triggers would have written: check a sample.
    cur.execute(
        "SELECT count(*) FROM stage s JOIN issues i ON i.id = s.id WHERE s.g % 97 = 0 "
        "AND (i.labels <> issue_labels_of(i.id) OR i.comment_count <> issue_comment_count_of(i.id))"
    )
    wrong = cur.fetchone()[0]
    if wrong:
        raise RuntimeError(f"seed: {wrong} sampled issues carry a summary the triggers disagree with")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--issues", type=int, default=100_000, help="number of issues (default 100000)")
    parser.add_argument("--database-url", default=None, help="default: $BENCH_DATABASE_URL or trackly_bench")
    parser.add_argument("--chunk", type=int, default=100_000, help="issues per transaction")
    args = parser.parse_args(argv)
    seed(bench_url(args.database_url), args.issues, args.chunk)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
