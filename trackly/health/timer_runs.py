"""Recording each timer run, and judging from the record whether a timer is late.

`record` runs after the job's own transaction, in a short one of its own, so a failed job still
leaves its failure behind. Recording never raises: a timer's outcome must not depend on it.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from trackly import clock

log = logging.getLogger(__name__)

_UPSERT = """
INSERT INTO timer_runs (name, last_started_at, last_finished_at, last_success_at, last_error,
                        consecutive_failures)
VALUES (:name, :started, :finished, CASE WHEN :error IS NULL THEN CAST(:finished AS timestamptz) END,
        :error, CASE WHEN :error IS NULL THEN 0 ELSE 1 END)
ON CONFLICT (name) DO UPDATE SET
    last_started_at = EXCLUDED.last_started_at,
    last_finished_at = EXCLUDED.last_finished_at,
    last_success_at = COALESCE(EXCLUDED.last_success_at, timer_runs.last_success_at),
    last_error = EXCLUDED.last_error,
    consecutive_failures = CASE WHEN EXCLUDED.last_error IS NULL THEN 0
                                ELSE timer_runs.consecutive_failures + 1 END
"""


def record(name: str, *, started_at: datetime, error: str | None) -> None:
    from sqlalchemy import text

    from trackly import db

    try:
        with db.session_scope() as session:
            session.execute(
                text(_UPSERT),
                {"name": name, "started": started_at, "finished": clock.now(), "error": error},
            )
    except Exception:  # e.g. the database is down: the job's own log line says what happened
        log.warning("could not record the run of timer %s", name, exc_info=True)


_FIELD = re.compile(r"^(\*|\d+|\*/\d+)$")


def expected_interval(schedule: str) -> timedelta:
    """How often an NCRONTAB schedule (`sec min hour day month weekday`) fires, for the common
    shapes (`0 * * * * *`, `0 */15 * * * *`, `0 0 */6 * * *`, `0 30 2 * * *`); a day otherwise."""
    parts = schedule.split()
    if len(parts) != 6 or not all(_FIELD.match(p) for p in parts[:3]) or any(p != "*" for p in parts[3:]):
        return timedelta(days=1)
    _sec, minute, hour = parts[:3]

    def step(field: str) -> int | None:
        if field == "*":
            return 1
        if field.startswith("*/"):
            return int(field[2:])
        return None  # a fixed value

    if step(minute) is not None and hour == "*":
        return timedelta(minutes=step(minute) or 1)
    if step(hour) is not None:
        return timedelta(hours=step(hour) or 1)
    return timedelta(days=1)


def late_after(schedule: str) -> timedelta:
    """A timer counts as late when its last success is older than two intervals plus a minute:
    one missed firing is tolerated (a scale-in, a deployment), two are not."""
    return 2 * expected_interval(schedule) + timedelta(minutes=1)
