"""Daily statistics: the dashboard endpoints and the timer that keeps `daily_stats` fresh.

The read endpoints return what is stored; the `aggregate_daily_stats` timer (STATS_SCHEDULE)
recomputes today and fills missing days, and an ADMIN can trigger a run or rebuild a range.
"""

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import azure.functions as func

from trackly.auth.policy import Action
from trackly.errors import Conflict
from trackly.http import Call, endpoint
from trackly.http.timers import Run, scheduled
from trackly.lazy import lazy
from trackly.stats.schemas import (
    AggregateIn,
    AggregateOut,
    Changes,
    DailyQuery,
    DailyStatsOut,
    DayRange,
    OpenBySeverity,
    SummaryOut,
    TrendsOut,
    TrendsQuery,
)

if TYPE_CHECKING:
    from trackly.stats import service
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    service = lazy("trackly.stats.service")

log = logging.getLogger(__name__)

bp = func.Blueprint()

DEFAULT_LIMIT = 30
RANGE_LIMIT = 366


@endpoint(
    bp,
    "GET",
    "stats/daily",
    summary="Daily statistics, newest first",
    tags=["stats"],
    action=Action.STATS_READ,
    query=DailyQuery,
    response=list[DailyStatsOut],
    read_only=True,
)
def daily_stats(call: Call[None, DailyQuery, None]) -> list[DailyStatsOut]:
    """One row per UTC day (state at the end of the day, activity during it), newest first.

    `limit` (1-366, default 30) most recent rows, or the rows from `from` to `to` (inclusive).
    Returns the stored rows; an empty table answers `[]`."""
    q = call.query
    ranged = q.from_ is not None or q.to is not None
    limit = q.limit or (RANGE_LIMIT if ranged else DEFAULT_LIMIT)
    rows = service.daily(session=call.session, limit=limit, start=q.from_, end=q.to)
    return [DailyStatsOut.model_validate(r) for r in rows]


def _out(row: object | None) -> DailyStatsOut | None:
    return None if row is None else DailyStatsOut.model_validate(row)


@endpoint(
    bp,
    "GET",
    "stats/summary",
    summary="Today against yesterday",
    tags=["stats"],
    action=Action.STATS_READ,
    response=SummaryOut,
    read_only=True,
)
def stats_summary(call: Call[None, None, None]) -> SummaryOut:
    """Today's and yesterday's rows (UTC; null when not computed yet) and their differences
    (null unless both rows exist)."""
    today, yesterday = service.two_latest_days(session=call.session, today=service.utc_today())

    def diff(column: str) -> int | None:
        if today is None or yesterday is None:
            return None
        return int(getattr(today, column)) - int(getattr(yesterday, column))

    return SummaryOut(
        today=_out(today),
        yesterday=_out(yesterday),
        changes=Changes(
            total_change=diff("total_issues"),
            open_change=diff("status_open"),
            critical_change=diff("severity_critical"),
        ),
        last_updated=service.last_updated(session=call.session),
    )


@endpoint(
    bp,
    "POST",
    "stats/aggregate",
    summary="Run the aggregation now, or rebuild a range",
    tags=["stats"],
    action=Action.STATS_AGGREGATE,
    body=AggregateIn,
    body_required=False,
    response=AggregateOut,
    errors=(409,),
)
def aggregate_stats(call: Call[None, None, AggregateIn]) -> AggregateOut:
    """Without a body: what the timer does (today plus missing or unfinished days, at most
    STATS_BACKFILL_MAX_DAYS). With `{"from": DATE, "to": DATE}`: recompute that range from the
    events. 422 when `from` > `to`, `to` is after today or the range is longer than
    STATS_BACKFILL_MAX_DAYS; 409 while another aggregation holds the lock."""
    body = call.body
    if body is not None and body.from_ is not None and body.to is not None:
        outcome = service.rebuild(body.from_, body.to, session=call.session, settings=call.settings)
        mode = "rebuild"
    else:
        outcome = service.run_scheduled(session=call.session, settings=call.settings)
        if not outcome.acquired:
            raise Conflict(service.LOCK_HELD_DETAIL)
        mode = "scheduled"
    return _aggregate_out(mode, outcome)


def _aggregate_out(mode: str, outcome: "service.Outcome") -> AggregateOut:
    return AggregateOut(
        mode=mode,
        acquired=outcome.acquired,
        days=outcome.days,
        rows=outcome.rows,
        ranges=[DayRange(from_=a, to=b) for a, b in outcome.ranges],
        remaining_days=outcome.remaining_days,
        duration_ms=round(outcome.duration_ms, 1),
    )


@endpoint(
    bp,
    "GET",
    "stats/trends",
    summary="Series for charts",
    tags=["stats"],
    action=Action.STATS_READ,
    query=TrendsQuery,
    response=TrendsOut,
)
def stats_trends(call: Call[None, TrendsQuery, None]) -> TrendsOut:
    """The last `days` UTC days (1-366, default 30) ending today, oldest first: created vs
    resolved per day, total issues, mean hours to DONE, and unresolved issues by severity.
    Days without a stored row count 0 (null for the mean) and are listed in `missing_days`."""
    end = service.utc_today()
    start = end - timedelta(days=call.query.days - 1)
    stored = {r.date: r for r in service.range_rows(session=call.session, start=start, end=end)}
    days = [start + timedelta(days=i) for i in range(call.query.days)]

    def series(column: str) -> list[int]:
        return [int(getattr(stored[d], column)) if d in stored else 0 for d in days]

    return TrendsOut(
        days=days,
        created=series("created_count"),
        resolved=series("resolved_count"),
        total=series("total_issues"),
        mean_hours_to_done=[stored[d].mean_hours_to_done if d in stored else None for d in days],
        open_by_severity=OpenBySeverity(
            LOW=series("unresolved_low"),
            MEDIUM=series("unresolved_medium"),
            HIGH=series("unresolved_high"),
            CRITICAL=series("unresolved_critical"),
        ),
        missing_days=[d for d in days if d not in stored],
    )


@scheduled(bp, "aggregate_daily_stats", schedule="%STATS_SCHEDULE%")
def aggregate_daily_stats(run: Run) -> None:
    """Recompute today and fill missing days; a concurrent firing finds the lock taken and stops."""
    outcome = service.run_scheduled(session=run.session, settings=run.settings)
    if not outcome.acquired:
        log.info("aggregate_daily_stats: another run holds the lock; nothing done")
        return
    log.info(
        "aggregate_daily_stats: %d days, %d rows in %.0f ms (%d older days left)%s",
        outcome.days,
        outcome.rows,
        outcome.duration_ms,
        outcome.remaining_days,
        " (past due)" if run.past_due else "",
    )
