"""The operator's readiness check: every dependency the app needs, and whether its timers run.

Slower than GET /health (it calls Blob Storage and Web PubSub, each with its client's short
timeout) and it names internals, so it answers only an ADMIN or the READINESS_KEY.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from trackly import clock
from trackly import examples as ex
from trackly.health import service, timer_runs
from trackly.schemas import Schema

if TYPE_CHECKING:  # pydantic-settings loads with the first request, not at import
    from trackly.config import Settings


class TimerState(Schema):
    name: str
    schedule: str
    last_success_at: datetime | None
    last_finished_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    late: bool


class Readiness(Schema):
    model_config = ex.examples(
        {
            "status": "ok",
            "database": "ok",
            "migrations": {"current": "0013", "head": "0013"},
            "storage": "ok",
            "webpubsub": "ok",
            "outbox_lag_seconds": 0.0,
            "timers": [
                {
                    "name": "publish_outbox",
                    "schedule": "0 * * * * *",
                    "last_success_at": "2026-12-08T01:00:00Z",
                    "last_finished_at": "2026-12-08T01:00:00Z",
                    "consecutive_failures": 0,
                    "last_error": None,
                    "late": False,
                }
            ],
            "version": "1.0.0",
        }
    )

    status: str
    database: str
    migrations: service.MigrationState
    storage: str  # ok | unreachable | container_missing | not_configured
    webpubsub: str  # ok | unreachable | not_configured
    outbox_lag_seconds: float | None
    timers: list[TimerState]
    version: str


def _storage(settings: Settings) -> str:
    if not settings.storage_configured:
        return "not_configured"
    try:
        from trackly.attachments.storage import get_storage

        return "ok" if get_storage(settings).container.exists() else "container_missing"
    except Exception:  # any failure means the app cannot use it now
        return "unreachable"


def _webpubsub(settings: Settings) -> str:
    if not settings.webpubsub_configured:
        return "not_configured"
    try:
        from trackly.realtime.client import get_client
        from trackly.realtime.groups import STAFF_GROUP

        get_client(settings).group_exists(STAFF_GROUP)
        return "ok"
    except Exception:  # any failure means live updates cannot be published now
        return "unreachable"


def check(*, session: Session, settings: Settings, schedules: dict[str, str]) -> Readiness:
    """`schedules`: each timer's resolved NCRONTAB schedule."""
    basic = service.check(session=session)
    timers: list[TimerState] = []
    lag: float | None = None
    if basic.database == "ok" and basic.migrations.current == basic.migrations.head:
        from trackly.models import TimerRun  # the mapped classes load with the first call

        rows = {r.name: r for r in session.scalars(select(TimerRun))}
        now = clock.now()
        for name, schedule in sorted(schedules.items()):
            row = rows.get(name)
            success = row.last_success_at if row else None
            timers.append(
                TimerState(
                    name=name,
                    schedule=schedule,
                    last_success_at=success,
                    last_finished_at=row.last_finished_at if row else None,
                    consecutive_failures=row.consecutive_failures if row else 0,
                    last_error=row.last_error if row else None,
                    late=success is None or now - success > timer_runs.late_after(schedule),
                )
            )
        if settings.webpubsub_configured:
            from trackly.realtime.outbox import oldest_unpublished_age

            lag = oldest_unpublished_age(session=session)
    storage, webpubsub = _storage(settings), _webpubsub(settings)
    healthy = (
        basic.status == "ok"
        and storage in ("ok", "not_configured")
        and webpubsub != "unreachable"
        and not any(t.late for t in timers)
    )
    return Readiness(
        status="ok" if healthy else "degraded",
        database=basic.database,
        migrations=basic.migrations,
        storage=storage,
        webpubsub=webpubsub,
        outbox_lag_seconds=lag,
        timers=timers,
        version=basic.version,
    )


def summary(report: Readiness) -> str:
    """What is not ready, in a few words (the 503's detail)."""
    problems = []
    if report.database != "ok":
        problems.append("the database is unreachable")
    elif report.migrations.current != report.migrations.head:
        problems.append(f"migrations are at {report.migrations.current}, not {report.migrations.head}")
    if report.storage in ("unreachable", "container_missing"):
        problems.append(
            "Blob Storage is "
            + report.storage.replace("_", " ").replace("container missing", "missing its container")
        )
    if report.webpubsub == "unreachable":
        problems.append("Web PubSub is unreachable")
    late = [t.name for t in report.timers if t.late]
    if late:
        problems.append("late timers: " + ", ".join(late))
    return "; ".join(problems) or "unknown"
