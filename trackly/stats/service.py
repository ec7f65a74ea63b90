"""Daily statistics, computed from the events history in SQL.

A `daily_stats` row for UTC date D holds the state of all issues at the end of D (for today: as of
the run) and the activity during D. The state of an issue at a moment is the snapshot
(`payload.issue`: status, severity, assignee) of its latest *state event* before that moment - an
issue event (created, updated, status changed, deleted) or `issue_assigned`, the only events that
change what is counted; every other event's snapshot repeats the state the latest of them left.
An issue whose latest state event is `issue_deleted` no longer exists. Days are half-open UTC
ranges [D 00:00, D+1 00:00).

How it stays cheap
------------------
Every state event moves its issue from the state the previous one left (window `lag()` over the
issue's state events) to the state in its own snapshot. Per day we sum those moves (+1 for the new
state, -1 for the old one) and a running `sum() over (order by day)` on top of the state at the
start of the range gives the end-of-day state of every day in the range. The open issues per
assignee are the same moves keyed by the assignee of the open issue they leave and enter (only
moves that change that key count), summed per key. One statement per range computes and upserts
every column:

- a full backfill is one pass over the events (no per-day rescans), read once into narrow rows:
  the state events are sorted once for the window, the staff comments apart for the first per
  issue (the first response);
- an incremental run (today, given yesterday's final row) reads only today's events through
  `ix_events_created_at`, plus one `ix_events_issue_id_id` probe per issue touched today to find
  the state it had before today, and one per issue with a staff comment today to check whether
  an earlier one exists (else today's first is its first response).

The statement runs without JIT: over a long history its estimated cost triggers compilation,
which takes longer than the statement itself.

A stored row is *final* once it was computed at least `SETTLE` after its day ended; rows that are
missing or not final are recomputed by the next scheduled run (so an event committed just before
midnight is never lost to a run at 23:59). Scheduled runs take a transaction-level advisory lock:
a concurrent run finds it taken and does nothing.

`resolved_count` counts transitions into DONE during the day: an issue resolved, reopened and
resolved again on the same day counts twice. `mean_hours_to_done` averages, over those same
transitions, the hours from the issue's creation to the transition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from trackly import clock
from trackly.config import Settings, get_settings
from trackly.errors import Conflict, Unprocessable
from trackly.events.types import EventType
from trackly.models import DailyStats

# pg_try_advisory_xact_lock key shared by every aggregation run ("trk" "stat").
LOCK_KEY = 0x74726B_5354
# The 409 detail when another aggregation holds the lock (the endpoint and `rebuild` say the same).
LOCK_HELD_DETAIL = "Statistics are being aggregated by another run right now; try again in a minute."
# A day's row is final when computed at least this long after the day ended.
SETTLE = timedelta(minutes=10)
# Days per statement when a caller wants progress reports (the CLI).
PROGRESS_CHUNK_DAYS = 92

ISSUE_EVENT_TYPES = (
    EventType.ISSUE_CREATED,
    EventType.ISSUE_UPDATED,
    EventType.ISSUE_STATUS_CHANGED,
    EventType.ISSUE_DELETED,
)
_TYPES_SQL = "(" + ", ".join(f"'{t.value}'" for t in ISSUE_EVENT_TYPES) + ")"
_DELETED = EventType.ISSUE_DELETED.value
_COMMENT = EventType.COMMENT_ADDED.value

# The events that can change what a row counts: the issue event types (status, severity,
# existence) and issue_assigned (the assignee). Every other event (comments, labels, watchers,
# attachments) carries a snapshot equal to the one the issue's latest state event left: `record`
# snapshots the issue row as it is, and only the issues service changes status, severity or
# assignee, always recording one of these types. So the state is read from these events only.
STATE_EVENT_TYPES = (*ISSUE_EVENT_TYPES, EventType.ISSUE_ASSIGNED)
_STATE_TYPES_SQL = "(" + ", ".join(f"'{t.value}'" for t in STATE_EVENT_TYPES) + ")"
# An event's assignee key: the assignee's id, '' when unassigned.
_KEY = "coalesce(e.payload->'issue'->>'assignee_id', '')"

# The status/severity an event leaves its issue in (NULL: the issue no longer exists).
_STATUS = f"CASE WHEN e.type = '{_DELETED}' THEN NULL ELSE e.payload->'issue'->>'status' END"
_SEVERITY = f"CASE WHEN e.type = '{_DELETED}' THEN NULL ELSE e.payload->'issue'->>'severity' END"

# End-of-day state counters and the condition on (status, severity) each one counts.
STATE_COUNTERS: dict[str, str] = {
    "status_open": "{s} = 'OPEN'",
    "status_triaged": "{s} = 'TRIAGED'",
    "status_in_progress": "{s} = 'IN_PROGRESS'",
    "status_done": "{s} = 'DONE'",
    "severity_low": "{s} IS NOT NULL AND {v} = 'LOW'",
    "severity_medium": "{s} IS NOT NULL AND {v} = 'MEDIUM'",
    "severity_high": "{s} IS NOT NULL AND {v} = 'HIGH'",
    "severity_critical": "{s} IS NOT NULL AND {v} = 'CRITICAL'",
    "total_issues": "{s} IS NOT NULL",
    "unresolved_low": "{s} <> 'DONE' AND {v} = 'LOW'",
    "unresolved_medium": "{s} <> 'DONE' AND {v} = 'MEDIUM'",
    "unresolved_high": "{s} <> 'DONE' AND {v} = 'HIGH'",
    "unresolved_critical": "{s} <> 'DONE' AND {v} = 'CRITICAL'",
}
ACTIVITY_COLUMNS = ("created_count", "resolved_count", "mean_hours_to_done")
INSIGHT_COLUMNS = ("open_by_assignee", "unassigned_open", "median_hours_to_first_response")

State = dict[str, int]


def empty_state() -> State:
    return dict.fromkeys(STATE_COUNTERS, 0)


def day_start(day: date) -> datetime:
    """00:00 UTC of `day` (the inclusive start of its half-open range)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def utc_today(now: datetime | None = None) -> date:
    return (now or clock.now()).astimezone(UTC).date()


# --- SQL ----------------------------------------------------------------------------------------


def _state_select(s: str, v: str) -> str:
    return ",\n".join(
        f"count(*) FILTER (WHERE {cond.format(s=s, v=v)}) AS {name}" for name, cond in STATE_COUNTERS.items()
    )


# State at a moment: the latest issue event before :before, per issue (one ordered index pass).
STATE_BEFORE_SQL = f"""
SELECT {_state_select("status", "severity")}
FROM (
    SELECT DISTINCT ON (e.issue_id) {_STATUS} AS status, {_SEVERITY} AS severity
    FROM events e
    WHERE e.issue_id IS NOT NULL AND e.type IN {_TYPES_SQL} AND e.created_at < :before
    ORDER BY e.issue_id, e.id DESC
) latest
"""  # noqa: S608 (constants only; values are bound parameters)

# The fast path packs an issue's state into one small code: 4 * status + severity
# (OPEN, TRIAGED, IN_PROGRESS, DONE = 0..3; LOW, MEDIUM, HIGH, CRITICAL = 0..3); NULL = deleted.
_STATUS_CODE = (
    "CASE e.payload->'issue'->>'status' WHEN 'OPEN' THEN 0 WHEN 'TRIAGED' THEN 4 "
    "WHEN 'IN_PROGRESS' THEN 8 WHEN 'DONE' THEN 12 END"
)
_SEVERITY_CODE = (
    "CASE e.payload->'issue'->>'severity' WHEN 'LOW' THEN 0 WHEN 'MEDIUM' THEN 1 "
    "WHEN 'HIGH' THEN 2 WHEN 'CRITICAL' THEN 3 END"
)
_CODE = (
    f"CAST(CASE WHEN e.type = '{_DELETED}' THEN NULL ELSE {_STATUS_CODE} + {_SEVERITY_CODE} END AS smallint)"
)
_DONE_CODE = 12

CODE_COUNTERS: dict[str, str] = {
    "status_open": "{c} / 4 = 0",
    "status_triaged": "{c} / 4 = 1",
    "status_in_progress": "{c} / 4 = 2",
    "status_done": "{c} / 4 = 3",
    "severity_low": "{c} % 4 = 0",
    "severity_medium": "{c} % 4 = 1",
    "severity_high": "{c} % 4 = 2",
    "severity_critical": "{c} % 4 = 3",
    "total_issues": "{c} IS NOT NULL",
    "unresolved_low": "{c} < 12 AND {c} % 4 = 0",
    "unresolved_medium": "{c} < 12 AND {c} % 4 = 1",
    "unresolved_high": "{c} < 12 AND {c} % 4 = 2",
    "unresolved_critical": "{c} < 12 AND {c} % 4 = 3",
}
assert list(CODE_COUNTERS) == list(STATE_COUNTERS)

# For each issue with a state event in the range but created before it: the state (and assignee
# key) its latest earlier state event left it in (an issue created in the range has none).
_PRIOR_SQL = f"""
SELECT p.id, p.issue_id, p.code, p.k
FROM (SELECT issue_id FROM ev WHERE NOT is_comment GROUP BY issue_id HAVING NOT bool_or(is_created)) touched
CROSS JOIN LATERAL (
    SELECT e.id, e.issue_id, {_CODE} AS code, {_KEY} AS k
    FROM events e
    WHERE e.issue_id = touched.issue_id AND e.type IN {_STATE_TYPES_SQL} AND e.created_at < :start
    ORDER BY e.id DESC
    LIMIT 1
) p
"""  # noqa: S608
_NO_PRIOR_SQL = (
    "SELECT NULL::bigint AS id, NULL::uuid AS issue_id, NULL::smallint AS code, NULL::text AS k WHERE false"
)

# The first staff comment of an issue in the range is its first response unless an earlier staff
# comment exists: one ix_events_issue_id_id probe per such comment. A range that starts from zero
# skips the probe (no event of any issue precedes the first issue event).
_NO_EARLIER_RESPONSE = f"""
WHERE NOT EXISTS (
    SELECT 1 FROM events p
    WHERE p.issue_id = f.issue_id AND p.id < f.id AND p.type = '{_COMMENT}'
      AND p.payload->'comment'->>'staff_response' = 'true'
)"""  # noqa: S608

_ENTERS_DONE = f"code >= {_DONE_CODE} AND (prev IS NULL OR prev < {_DONE_CODE})"
_IS_OPEN = f"< {_DONE_CODE}"  # a code below DONE: the issue exists and is open


def _delta_select() -> str:
    return ",\n".join(
        f"coalesce(sum(n) FILTER (WHERE {cond.format(c='code')}), 0)"
        f" - coalesce(sum(n) FILTER (WHERE {cond.format(c='prev')}), 0) AS {name}"
        for name, cond in CODE_COUNTERS.items()
    )


def _range_sql(*, with_prior: bool) -> str:
    """The statement that computes and upserts every column of the days [first_day, last_day]."""
    state_cols = list(STATE_COUNTERS)
    running = ",\n".join(
        f"CAST(CAST(:base_{c} AS bigint) + sum(coalesce(d.{c}, 0)) OVER (ORDER BY days.day)"
        f" AS integer) AS {c}"
        for c in state_cols
    )
    columns = [*state_cols, *ACTIVITY_COLUMNS, *INSIGHT_COLUMNS]
    updates = ",\n".join(f"{c} = EXCLUDED.{c}" for c in [*columns, "computed_at"])
    # `ev`: one pass over the range's events, narrow rows (the JSON is read once per event), kept
    # for its two readers. The state events are sorted once for the window: lag() gives each move
    # (previous code and open issue's assignee key -> new ones). The moves are grouped by (day,
    # previous code, new code, assignee key left, assignee key entered) - the keys only when an
    # open issue changed hands, opened or closed, so the groups stay few - and the counters, the
    # running per-assignee sums and the activity columns come from those groups. The staff
    # comments are sorted apart for the first of each issue.
    return f"""
WITH ev AS MATERIALIZED (
    SELECT e.id, e.issue_id,
           (e.created_at AT TIME ZONE 'UTC')::date AS day,
           e.type = '{_COMMENT}' AS is_comment,
           e.type = '{EventType.ISSUE_CREATED.value}' AS is_created,
           CASE WHEN e.type <> '{_COMMENT}' THEN {_CODE} END AS code,
           CASE WHEN e.type <> '{_COMMENT}' THEN {_KEY} END AS k,
           CASE WHEN e.type = '{_COMMENT}'
                  OR (e.type <> '{_DELETED}' AND e.payload->'issue'->>'status' = 'DONE')
                THEN extract(epoch FROM e.created_at - (e.payload->'issue'->>'created_at')::timestamptz)
                     / 3600.0 END AS hours
    FROM events e
    WHERE e.issue_id IS NOT NULL
      AND (e.type IN {_STATE_TYPES_SQL}
           OR (e.type = '{_COMMENT}' AND e.payload->'comment'->>'staff_response' = 'true'))
      AND e.created_at >= :start AND e.created_at < :end
),
prior AS ({_PRIOR_SQL if with_prior else _NO_PRIOR_SQL}),
seq AS (
    SELECT u.day, u.is_created, u.code, u.hours,
           lag(u.code) OVER w AS prev,
           CASE WHEN u.code {_IS_OPEN} THEN u.k END AS open_key,
           CASE WHEN lag(u.code) OVER w {_IS_OPEN} THEN lag(u.k) OVER w END AS prev_open_key
    FROM (
        SELECT id, issue_id, day, is_created, code, k, hours FROM ev WHERE NOT is_comment
        UNION ALL
        SELECT id, issue_id, NULL::date, false, code, k, NULL::numeric FROM prior
    ) u
    WINDOW w AS (PARTITION BY u.issue_id ORDER BY u.id)
),
moves AS (
    SELECT day, prev, code,
           CASE WHEN open_key IS DISTINCT FROM prev_open_key THEN prev_open_key END AS left_key,
           CASE WHEN open_key IS DISTINCT FROM prev_open_key THEN open_key END AS entered_key,
           count(*) AS n,
           count(*) FILTER (WHERE is_created) AS created,
           count(*) FILTER (WHERE {_ENTERS_DONE}) AS resolved,
           count(hours) FILTER (WHERE {_ENTERS_DONE}) AS timed,
           sum(hours) FILTER (WHERE {_ENTERS_DONE}) AS hours
    FROM seq
    WHERE day IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
),
deltas AS (
    SELECT day,
           {_delta_select()},
           sum(created) AS created_count,
           sum(resolved) AS resolved_count,
           sum(hours) / nullif(sum(timed), 0) AS mean_hours_to_done
    FROM moves
    GROUP BY day
),
key_deltas AS (
    SELECT day, k, sum(d) AS d
    FROM (
        SELECT day, entered_key AS k, n AS d FROM moves WHERE entered_key IS NOT NULL
        UNION ALL
        SELECT day, left_key, -n FROM moves WHERE left_key IS NOT NULL
    ) m
    GROUP BY day, k
),
first_in_range AS (
    SELECT DISTINCT ON (issue_id) id, issue_id, day, hours
    FROM ev
    WHERE is_comment
    ORDER BY issue_id, id
),
responses AS (
    SELECT f.day, percentile_cont(0.5) WITHIN GROUP (ORDER BY f.hours) AS median_hours
    FROM first_in_range f
    {_NO_EARLIER_RESPONSE if with_prior else ""}
    GROUP BY f.day
),
base_keys AS (SELECT key AS k, CAST(value AS bigint) AS n FROM jsonb_each_text(CAST(:base AS jsonb))),
keys AS (SELECT k FROM base_keys UNION SELECT k FROM key_deltas UNION SELECT ''),
days AS (
    -- integer generate_series: planned with its real row count (1 for an incremental run)
    SELECT CAST(:first_day AS date) + g AS day
    FROM generate_series(0, CAST(:day_count AS integer) - 1) g
),
per_key AS (
    SELECT days.day, keys.k,
           CAST(coalesce(b.n, 0) + sum(coalesce(d.d, 0)) OVER (PARTITION BY keys.k ORDER BY days.day)
                AS integer) AS n
    FROM days CROSS JOIN keys
    LEFT JOIN base_keys b ON b.k = keys.k
    LEFT JOIN key_deltas d ON d.day = days.day AND d.k = keys.k
),
insights AS (
    SELECT day,
           CAST(coalesce(sum(n) FILTER (WHERE k = ''), 0) AS integer) AS unassigned_open,
           coalesce(jsonb_object_agg(k, n) FILTER (WHERE k <> '' AND n > 0), '{{}}'::jsonb)
               AS open_by_assignee
    FROM per_key
    GROUP BY day
),
running AS (
    SELECT days.day,
           {running},
           CAST(coalesce(d.created_count, 0) AS integer) AS created_count,
           CAST(coalesce(d.resolved_count, 0) AS integer) AS resolved_count,
           CAST(d.mean_hours_to_done AS double precision) AS mean_hours_to_done,
           i.open_by_assignee,
           i.unassigned_open,
           CAST(r.median_hours AS double precision) AS median_hours_to_first_response
    FROM days
    JOIN insights i ON i.day = days.day
    LEFT JOIN deltas d ON d.day = days.day
    LEFT JOIN responses r ON r.day = days.day
)
INSERT INTO daily_stats (date, {", ".join(columns)}, computed_at, created_at)
SELECT day, {", ".join(columns)}, :now, :now FROM running
ON CONFLICT (date) DO UPDATE SET
{updates}
"""  # noqa: S608 (constants only; values are bound parameters)


def _code_counters(n: str) -> str:
    return ",\n".join(
        f"CAST(coalesce(sum({n}) FILTER (WHERE {cond.format(c='code')}), 0) AS bigint) AS {name}"
        for name, cond in CODE_COUNTERS.items()
    )


# The base of a range whose previous day has no usable stored row: from each issue's latest state
# event before a moment, the state counters and the open issues per assignee key ('' =
# unassigned), in one DISTINCT ON pass. The (code, key) groups stay few (codes x assignees).
BASE_BEFORE_SQL = f"""
WITH latest AS (
    SELECT code, k, count(*) AS n
    FROM (
        SELECT DISTINCT ON (e.issue_id) {_CODE} AS code, {_KEY} AS k
        FROM events e
        WHERE e.issue_id IS NOT NULL AND e.type IN {_STATE_TYPES_SQL} AND e.created_at < :before
        ORDER BY e.issue_id, e.id DESC
    ) l
    WHERE code IS NOT NULL
    GROUP BY code, k
)
SELECT {_code_counters("n")},
       (SELECT coalesce(jsonb_object_agg(o.k, o.n), '{{}}'::jsonb)
        FROM (SELECT k, sum(n) AS n FROM latest WHERE code {_IS_OPEN} GROUP BY k) o) AS open_by_key
FROM latest
"""  # noqa: S608 (constants only; values are bound parameters)

Insights = dict[str, int]  # open issues per assignee key ('' = unassigned)


_RANGE_WITH_PRIOR = _range_sql(with_prior=True)
_RANGE_FROM_ZERO = _range_sql(with_prior=False)


# --- building blocks ------------------------------------------------------------------------------


def state_before(moment: datetime, *, session: Session) -> State:
    """The state counters of all issues just before `moment`, straight from the events."""
    row = session.execute(text(STATE_BEFORE_SQL), {"before": moment}).mappings().one()
    return {name: int(row[name]) for name in STATE_COUNTERS}


def base_before(moment: datetime, *, session: Session) -> tuple[State, Insights]:
    """The state counters and the open issues per assignee key just before `moment`, straight from
    the events (one statement)."""
    row = session.execute(text(BASE_BEFORE_SQL), {"before": moment}).mappings().one()
    state = {name: int(row[name]) for name in STATE_COUNTERS}
    return state, {str(k): int(n) for k, n in row["open_by_key"].items()}


def _stored_base(day: date, *, session: Session, final_only: bool) -> tuple[State, Insights] | None:
    """The stored state counters and open-per-assignee counts of `day`, in one SELECT; None when
    the row is missing, not final (if asked), or has no insights (rows written before migration
    0006 have unassigned_open NULL: the base then comes from the events)."""
    # Columns, not an entity: a row loaded earlier in this session must not shadow a fresh upsert.
    columns = [
        DailyStats.computed_at,
        DailyStats.unassigned_open,
        DailyStats.open_by_assignee,
        *(getattr(DailyStats, name) for name in STATE_COUNTERS),
    ]
    row = session.execute(select(*columns).where(DailyStats.date == day)).first()
    if row is None:
        return None
    computed_at, unassigned, by_assignee, *counts = row
    if unassigned is None or (final_only and not is_final(day, computed_at)):
        return None
    state = {name: int(value) for name, value in zip(STATE_COUNTERS, counts, strict=True)}
    return state, {**{str(k): int(n) for k, n in (by_assignee or {}).items()}, "": int(unassigned)}


def state_at_end_of(day: date, *, session: Session) -> State:
    """The naive (one DISTINCT ON scan) end-of-day state; the reference the fast path must match."""
    return state_before(day_start(day + timedelta(days=1)), session=session)


def first_event_day(*, session: Session) -> date | None:
    """The UTC date of the first issue event (where the history, and so the statistics, begin)."""
    first = session.execute(
        text(
            f"SELECT min(created_at) FROM events e WHERE e.issue_id IS NOT NULL AND e.type IN {_TYPES_SQL}"  # noqa: S608
        )
    ).scalar()
    return None if first is None else first.astimezone(UTC).date()


def try_lock(*, session: Session) -> bool:
    """Take the aggregation lock for this transaction; False if another run holds it."""
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}).scalar())


def is_final(day: date, computed_at: datetime) -> bool:
    return computed_at >= day_start(day + timedelta(days=1)) + SETTLE


def _compute_chunk(
    start: date,
    end: date,
    base: State,
    insights: Insights,
    *,
    with_prior: bool,
    session: Session,
    now: datetime,
) -> int:
    params: dict[str, Any] = {
        "start": day_start(start),
        "end": day_start(end + timedelta(days=1)),
        "first_day": start,
        "now": now,
    }
    params.update({f"base_{name}": value for name, value in base.items()})
    params["base"] = json.dumps(insights)
    params["day_count"] = (end - start).days + 1
    sql = _RANGE_WITH_PRIOR if with_prior else _RANGE_FROM_ZERO
    result = session.execute(text(sql), params)
    return int(getattr(result, "rowcount", 0) or 0)


def compute_range(
    start: date,
    end: date,
    *,
    session: Session,
    first_day: date | None,
    trust_stored_base: bool,
    chunk_days: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute and upsert the rows of [start, end]; returns the number of rows written.

    The state before `start` comes from the stored final row of the day before (when
    `trust_stored_base`), else from the events (zero when `start` is on or before the first
    event's day). Later chunks start from the rows the previous chunk just wrote.
    """
    now = clock.now()
    # No JIT in this transaction: over a long history the range statement is estimated costly
    # enough to be compiled, which takes longer (0.1-1 s) than running it without.
    session.execute(text("SET LOCAL jit = off"))
    rows = 0
    chunk = chunk_days or (end - start).days + 1
    cursor = start
    base: tuple[State, Insights] | None = None
    while cursor <= end:
        last = min(end, cursor + timedelta(days=chunk - 1))
        from_zero = first_day is None or cursor <= first_day
        if from_zero:
            base = empty_state(), {}
        elif base is None:
            if trust_stored_base:
                base = _stored_base(cursor - timedelta(days=1), session=session, final_only=True)
            if base is None:
                base = base_before(day_start(cursor), session=session)
        state, insights = base
        rows += _compute_chunk(
            cursor, last, state, insights, with_prior=not from_zero, session=session, now=now
        )
        if progress is not None:
            progress((last - cursor).days + 1)
        cursor = last + timedelta(days=1)
        # The next chunk starts from the row just written (read only when there is a next chunk).
        base = _stored_base(last, session=session, final_only=False) if cursor <= end else None
    return rows


def _contiguous(days: Iterable[date]) -> list[tuple[date, date]]:
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def days_needing_work(*, session: Session, first_day: date, today: date) -> list[date]:
    """Days from the first event's day to today whose row is missing or not final, and today."""
    stored = dict(
        session.execute(
            select(DailyStats.date, DailyStats.computed_at).where(
                DailyStats.date >= first_day, DailyStats.date <= today
            )
        ).all()
    )
    out = []
    day = first_day
    while day <= today:
        computed_at = stored.get(day)
        if day == today or computed_at is None or not is_final(day, computed_at):
            out.append(day)
        day += timedelta(days=1)
    return out


# --- runs -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a run did."""

    acquired: bool
    ranges: list[tuple[date, date]] = field(default_factory=list)
    rows: int = 0
    remaining_days: int = 0
    duration_ms: float = 0.0

    @property
    def days(self) -> int:
        return sum((b - a).days + 1 for a, b in self.ranges)


def run_scheduled(
    *,
    session: Session,
    settings: Settings,
    max_days: int | None = None,
    chunk_days: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> Outcome:
    """The timer's job: recompute today and the most recent missing/unfinished days.

    At most `max_days` days per run (default STATS_BACKFILL_MAX_DAYS); older gaps are filled by
    the following runs. Does nothing (acquired=False) if another run holds the lock.
    """
    started = time.perf_counter()
    if not try_lock(session=session):
        return Outcome(acquired=False)
    first = first_event_day(session=session)
    outcome = Outcome(acquired=True)
    if first is not None:
        today = utc_today()
        needed = days_needing_work(session=session, first_day=first, today=today)
        limit = settings.STATS_BACKFILL_MAX_DAYS if max_days is None else max_days
        selected = needed[-limit:] if limit > 0 else needed
        outcome.remaining_days = len(needed) - len(selected)
        outcome.ranges = _contiguous(selected)
        if on_plan is not None:
            on_plan(outcome.days)
        for a, b in outcome.ranges:
            outcome.rows += compute_range(
                a,
                b,
                session=session,
                first_day=first,
                trust_stored_base=True,
                chunk_days=chunk_days,
                progress=progress,
            )
    outcome.duration_ms = (time.perf_counter() - started) * 1000
    return outcome


def check_range(start: date, end: date, *, settings: Settings | None, today: date) -> None:
    """Refuse reversed ranges, future days and (when `settings` given) over-long ranges."""
    if start > end:
        raise Unprocessable(f"'from' ({start}) must not be after 'to' ({end}).")
    if end > today:
        raise Unprocessable(f"Statistics cannot be computed for days after today ({today}); 'to' is {end}.")
    if settings is not None and (end - start).days + 1 > settings.STATS_BACKFILL_MAX_DAYS:
        raise Unprocessable(
            f"The range {start} to {end} spans {(end - start).days + 1} days; at most "
            f"{settings.STATS_BACKFILL_MAX_DAYS} days (STATS_BACKFILL_MAX_DAYS) can be rebuilt at once."
        )


def _refuse_pruned_history(start: date, end: date, *, session: Session, today: date) -> None:
    """The outbox timer prunes the events of issues deleted more than EVENT_RETENTION_DAYS ago once
    every day they touched has a stored row. Recomputing such a day from the remaining events
    would undercount it, so stored days older than the retention window are never rebuilt.
    (Days without a row are safe: pruning needs a row for every day an issue touched.)"""
    cutoff = today - timedelta(days=get_settings().EVENT_RETENTION_DAYS)
    if start >= cutoff:
        return
    stored = session.scalar(
        select(func.min(DailyStats.date)).where(
            DailyStats.date >= start, DailyStats.date <= min(end, cutoff - timedelta(days=1))
        )
    )
    if stored is not None:
        raise Unprocessable(
            f"Days before {cutoff} that already have statistics cannot be rebuilt: events of issues "
            f"deleted more than EVENT_RETENTION_DAYS ago may have been pruned, so a rebuild would "
            f"undercount them ({stored} has a stored row). Start the range on or after {cutoff}."
        )


def rebuild(
    start: date,
    end: date,
    *,
    session: Session,
    settings: Settings | None,
    chunk_days: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Recompute [start, end] from the events (stored rows are not trusted), clamped to the days
    from the first event on. `settings` bounds the range length (None: unbounded, for the CLI).
    Raises Conflict if another aggregation holds the lock."""
    started = time.perf_counter()
    today = utc_today()
    check_range(start, end, settings=settings, today=today)
    _refuse_pruned_history(start, end, session=session, today=today)
    if not try_lock(session=session):
        raise Conflict(LOCK_HELD_DETAIL)
    outcome = Outcome(acquired=True)
    first = first_event_day(session=session)
    if first is not None and end >= first:
        start = max(start, first)
        outcome.ranges = [(start, end)]
        outcome.rows = compute_range(
            start,
            end,
            session=session,
            first_day=first,
            trust_stored_base=False,
            chunk_days=chunk_days,
            progress=progress,
        )
    outcome.duration_ms = (time.perf_counter() - started) * 1000
    return outcome


# --- reading --------------------------------------------------------------------------------------


def daily(
    *, session: Session, limit: int, start: date | None = None, end: date | None = None
) -> list[DailyStats]:
    """Stored rows, newest first (what the timer last computed; nothing is computed here)."""
    query = select(DailyStats).order_by(DailyStats.date.desc()).limit(limit)
    if start is not None:
        query = query.where(DailyStats.date >= start)
    if end is not None:
        query = query.where(DailyStats.date <= end)
    return list(session.scalars(query))


def two_latest_days(*, session: Session, today: date) -> tuple[DailyStats | None, DailyStats | None]:
    rows = {
        r.date: r
        for r in session.scalars(
            select(DailyStats).where(DailyStats.date.in_([today, today - timedelta(days=1)]))
        )
    }
    return rows.get(today), rows.get(today - timedelta(days=1))


def last_updated(*, session: Session) -> datetime | None:
    value: datetime | None = session.scalar(select(func.max(DailyStats.computed_at)))
    return value


def range_rows(*, session: Session, start: date, end: date) -> list[DailyStats]:
    return list(
        session.scalars(
            select(DailyStats)
            .where(DailyStats.date >= start, DailyStats.date <= end)
            .order_by(DailyStats.date)
        )
    )
