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

from trackly import db

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


def scheduled(
    bp: func.Blueprint, name: str, *, schedule: str, run_on_startup: bool = False
) -> Callable[[Job], Callable[[func.TimerRequest | None], None]]:
    """Declare a timer function named `name` on `schedule` (an NCRONTAB or `%APP_SETTING%`)."""

    def decorate(job: Job) -> Callable[[func.TimerRequest | None], None]:
        def function(timer: func.TimerRequest | None) -> None:
            execute(name, job, past_due=bool(getattr(timer, "past_due", False)))

        # Real classes, not strings: the Functions worker inspects these annotations.
        function.__annotations__ = {"timer": func.TimerRequest, "return": None}
        function.__name__ = function.__qualname__ = name
        function.__doc__ = job.__doc__
        built = bp.timer_trigger(schedule=schedule, arg_name="timer", run_on_startup=run_on_startup)(function)
        bp.function_name(name)(built)
        return function

    return decorate


def execute(name: str, job: Job, *, past_due: bool = False) -> None:
    from trackly.config import get_settings  # here, not at import: keeps pydantic-settings out of cold start

    started = time.perf_counter()
    run = Run(name, past_due=past_due, settings=get_settings())
    try:
        job(run)
        run.commit()
    except Exception:
        run.discard()
        log.exception("timer %s failed", name, extra={"function": name})
        raise
    log.info(
        "timer %s finished in %.0f ms%s",
        name,
        (time.perf_counter() - started) * 1000,
        " (past due)" if past_due else "",
        extra={"function": name},
    )


__all__ = ["Run", "execute", "scheduled"]
