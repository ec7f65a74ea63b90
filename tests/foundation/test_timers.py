"""The timer declaration (`trackly.http.timers.scheduled`): registration, one transaction per run
committed on success and rolled back on failure, failures logged and raised to the host."""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func
import pytest
from sqlalchemy import Engine, text

from trackly import db
from trackly.http.router import discover
from trackly.http.timers import Run, scheduled


def _keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT key FROM login_throttle ORDER BY key")).scalars())


def _insert(session: Any, key: str) -> None:
    session.execute(text("INSERT INTO login_throttle (key) VALUES (:k)"), {"k": key})


def _app(job: Any, name: str = "demo_timer") -> tuple[func.FunctionApp, Any]:
    bp = func.Blueprint()
    function = scheduled(bp, name, schedule="%DEMO_SCHEDULE%", run_on_startup=True)(job)
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(bp)
    return app, function


def test_registers_a_timer_function_the_worker_can_index() -> None:
    app, _function = _app(lambda run: None)
    _http, timers = discover(app)
    assert [(t.name, t.schedule, t.run_on_startup, t.arg_name) for t in timers] == [
        ("demo_timer", "%DEMO_SCHEDULE%", True, "timer")
    ]
    assert timers[0].user_function.__annotations__["timer"] is func.TimerRequest


def test_the_runs_session_is_committed_and_after_commit_work_runs(database_url: str, engine: Engine) -> None:
    after: list[str] = []

    def job(run: Run) -> None:
        _insert(run.session, "job:committed")
        db.on_commit(run.session, lambda: after.append("published"))

    _app(job)[1](None)
    assert _keys(engine) == ["job:committed"]
    assert after == ["published"]


def test_commit_splits_a_run_into_transactions(database_url: str, engine: Engine) -> None:
    def job(run: Run) -> None:
        _insert(run.session, "job:first")
        run.commit()
        _insert(run.session, "job:second")
        raise RuntimeError("the second step fails")

    with pytest.raises(RuntimeError):
        _app(job)[1](None)
    assert _keys(engine) == ["job:first"]  # the first transaction stands, the second rolled back


def test_a_failing_run_is_rolled_back_logged_and_raised(
    database_url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    after: list[str] = []

    def job(run: Run) -> None:
        _insert(run.session, "job:lost")
        db.on_commit(run.session, lambda: after.append("published"))
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="trackly.timers"), pytest.raises(RuntimeError, match="boom"):
        _app(job, "failing_timer")[1](None)
    assert _keys(engine) == []
    assert after == []  # nothing published for a rolled-back run
    assert any("failing_timer failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_past_due_and_settings_reach_the_job(database_url: str) -> None:
    seen: list[tuple[bool, str]] = []

    class Late:
        past_due = True

    _app(lambda run: seen.append((run.past_due, run.settings.TRACKLY_ENV)))[1](Late())
    assert seen == [(True, "test")]
