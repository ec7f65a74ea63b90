"""The timer function as registered in function_app, and `python -m trackly aggregate-stats`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.stats.history import History, OrmWriter, at, build_story, comparable, stored_rows
from trackly import clock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def history(reporter: Any) -> History:
    return History(OrmWriter(reporter.id))


def stats_timer() -> Any:
    import function_app
    from trackly.http.router import discover

    _http, timers = discover(function_app.app)
    return next(t for t in timers if t.name == "aggregate_daily_stats")


def test_timer_is_registered_on_the_schedule_setting(settings_env: Any) -> None:
    from trackly.local.host import resolve_schedule

    # The schedule is read from the settings, which need the test environment (JWT secret,
    # TRACKLY_ENV) that `settings_env` installs; without it this test passed only after some other
    # test had installed it. STATS_SCHEDULE unset: the default is what is checked.
    settings_env(STATS_SCHEDULE=None)
    timer = stats_timer()
    assert timer.schedule == "%STATS_SCHEDULE%"
    assert timer.run_on_startup is False
    assert resolve_schedule(timer.schedule) == "0 */30 * * * *"


def test_timer_function_writes_the_rows(history: History, engine: Engine) -> None:
    from trackly.local.host import LocalTimerRequest, _call_user_function

    build_story(history)
    timer = stats_timer()
    with clock.frozen(at(6, 23)):
        _call_user_function(timer.user_function, timer.name, timer.arg_name, LocalTimerRequest())
        _call_user_function(timer.user_function, timer.name, timer.arg_name, LocalTimerRequest(True))
    assert comparable(stored_rows(engine)) == comparable(history.expected_rows(date(2026, 3, 6)))


def test_cli_fills_everything_and_rebuilds_ranges(
    history: History, engine: Engine, capsys: pytest.CaptureFixture[str], settings_env: Any
) -> None:
    from trackly.cli import main

    settings_env(STATS_BACKFILL_MAX_DAYS="2")  # the CLI is not bound by the per-run limit
    build_story(history)
    with clock.frozen(at(6, 23)):
        assert main(["aggregate-stats", "--quiet"]) == 0
    assert "Computed 6 days (2026-03-01..2026-03-06): 6 rows" in capsys.readouterr().out
    assert comparable(stored_rows(engine)) == comparable(history.expected_rows(date(2026, 3, 6)))

    with clock.frozen(at(6, 23)):
        assert main(["aggregate-stats", "--quiet", "--from", "2026-03-02", "--to", "2026-03-04"]) == 0
        assert "Computed 3 days (2026-03-02..2026-03-04): 3 rows" in capsys.readouterr().out
        assert main(["aggregate-stats", "--quiet", "--from", "2026-03-04", "--to", "2026-03-04"]) == 0
        assert "Computed 1 day (2026-03-04..2026-03-04): 1 row in" in capsys.readouterr().out
        assert main(["aggregate-stats", "--from", "2026-03-02"]) == 2
        assert "both --from and --to" in capsys.readouterr().err
        assert main(["aggregate-stats", "--from", "2026-03-04", "--to", "2026-03-02"]) == 1
        assert "must not be after" in capsys.readouterr().err


def test_cli_as_a_process_with_a_progress_bar(history: History, engine: Engine, database_url: str) -> None:
    """The real command in a subprocess (real clock): history on the last three UTC days.

    The range is given explicitly: `today` is read once here, and a default range would end on
    the subprocess's own "today", a different day if the run crosses midnight UTC."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=2)
    start = datetime(first.year, first.month, first.day, 8, tzinfo=UTC)
    history.create(start, "A", "HIGH")
    history.create(start + timedelta(hours=1), "B")
    history.status(start + timedelta(days=1), "A", "DONE")
    history.delete(start + timedelta(days=1, hours=1), "B")
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-m", "trackly", "aggregate-stats", "--from", str(first), "--to", str(today)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"Computed 3 days ({first}..{today}): 3 rows" in done.stdout
    assert "aggregate-stats: 100%" in done.stderr  # the tqdm progress bar
    # Every frame of the bar knows its total: no empty "0day [00:00, ?day/s]" bar first.
    frames = [f for f in re.split(r"[\r\n]", done.stderr) if f.startswith("aggregate-stats:")]
    assert frames and all(re.search(r" \d/3 \[", f) for f in frames), frames
    assert comparable(stored_rows(engine)) == comparable(history.expected_rows(today))
