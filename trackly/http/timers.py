"""The timer counterpart of `@endpoint`: one declaration registers a scheduled function, and the
job gets a `Run` with settings and a lazily opened Session, committed when the job returns and
rolled back when it raises. Every run is logged with its duration; a failure is logged with the
function's name and raised again, so the host records the invocation as failed.

    @scheduled(bp, "aggregate_daily_stats", schedule="%STATS_SCHEDULE%")
    def aggregate_daily_stats(run: Run) -> None:
        outcome = service.run_scheduled(session=run.session, settings=run.settings)

It lives beside the endpoint layer because both adapt an Azure Functions trigger to the app.
"""

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import azure.functions as func
from sqlalchemy.orm import Session

from trackly import clock, db, telemetry
from trackly.health import timer_runs

if TYPE_CHECKING:
    from trackly.config import Settings

log = logging.getLogger("trackly.timers")


class Run:
    """One firing of a timer as a job sees it."""

    def __init__(self, name: str, *, past_due: bool, settings: "Settings") -> None:
        self.name = name
        self.past_due = past_due
        self.settings = settings
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        """A transaction opened on first use; committed when the job returns."""
        if self._session is None:
            self._session = db.new_session()
        return self._session

    def commit(self) -> None:
        """Commit what the job did so far (and run its after-commit work); the next use of
        `session` opens a new transaction."""
        session, self._session = self._session, None
        if session is None:
            return
        try:
            session.commit()
        except BaseException:
            db.discard(session)
            raise
        session.close()
        db.run_after_commit(session)

    def discard(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            db.discard(session)


Job = Callable[[Run], None]

# Every declared timer and its schedule (an NCRONTAB or `%APP_SETTING%`): the readiness check
# judges from these whether a timer is late.
SCHEDULES: dict[str, str] = {}


def resolve_schedule(schedule: str, settings: "Settings") -> str:
    """`%OUTBOX_SCHEDULE%` -> the setting's value (as the Functions host resolves it)."""
    if schedule.startswith("%") and schedule.endswith("%"):
        return str(getattr(settings, schedule.strip("%"), schedule))
    return schedule


def scheduled(
    bp: func.Blueprint, name: str, *, schedule: str, run_on_startup: bool = False
) -> Callable[[Job], Callable[[func.TimerRequest | None], None]]:
    """Declare a timer function named `name` on `schedule` (an NCRONTAB or `%APP_SETTING%`)."""

    def decorate(job: Job) -> Callable[[func.TimerRequest | None], None]:
        SCHEDULES[name] = schedule

        def function(timer: func.TimerRequest | None, context: func.Context | None = None) -> None:
            trace_context = getattr(context, "trace_context", None)
            execute(
                name,
                job,
                past_due=bool(getattr(timer, "past_due", False)),
                invocation_id=getattr(context, "invocation_id", None),
                trace_parent=getattr(trace_context, "trace_parent", None) or None,
            )

        # Real classes, not strings: the Functions worker inspects these annotations.
        function.__annotations__ = {"timer": func.TimerRequest, "context": func.Context, "return": None}
        function.__name__ = function.__qualname__ = name
        function.__doc__ = job.__doc__
        built = bp.timer_trigger(schedule=schedule, arg_name="timer", run_on_startup=run_on_startup)(function)
        bp.function_name(name)(built)
        return function

    return decorate


def execute(
    name: str,
    job: Job,
    *,
    past_due: bool = False,
    invocation_id: str | None = None,
    trace_parent: str | None = None,
) -> None:
    from trackly.config import get_settings  # here, not at import: keeps pydantic-settings out of cold start

    started = time.perf_counter()
    started_at = clock.now()
    with telemetry.invocation(
        name, trigger="timer", invocation_id=invocation_id, trace_parent=trace_parent
    ) as inv:
        run = Run(name, past_due=past_due, settings=get_settings())
        try:
            job(run)
            run.commit()
        except Exception as exc:
            run.discard()
            inv.outcome = "failure"
            log.exception("timer %s failed", name, extra={"function": name})
            timer_runs.record(name, started_at=started_at, error=type(exc).__name__)
            raise
        inv.outcome = "success"
        timer_runs.record(name, started_at=started_at, error=None)
        log.info(
            "timer %s finished in %.0f ms%s",
            name,
            (time.perf_counter() - started) * 1000,
            " (past due)" if past_due else "",
            extra={"function": name},
        )


__all__ = ["SCHEDULES", "Run", "execute", "resolve_schedule", "scheduled"]
