"""The local host: schedules, settings file, timers and the `python -m trackly` commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from trackly.local.host import load_local_settings, resolve_schedule, seconds_until_next
from trackly.local.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_ncrontab_has_seconds_first() -> None:
    now = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)
    assert seconds_until_next("0 */30 * * * *", now) == pytest.approx(30 * 60 - 10)
    assert seconds_until_next("0 * * * * *", now) == pytest.approx(50)
    with pytest.raises(ValueError, match="six fields"):
        seconds_until_next("*/5 * * * *", now)


def test_schedule_reads_app_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SCHEDULE", "0 0 * * * *")
    assert resolve_schedule("%MY_SCHEDULE%") == "0 0 * * * *"
    assert resolve_schedule("0 5 * * * *") == "0 5 * * * *"


def test_local_settings_values_do_not_override_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {"A_SETTING": "file", "B_SETTING": "file"}}))
    monkeypatch.setenv("A_SETTING", "env")
    monkeypatch.delenv("B_SETTING", raising=False)
    applied = load_local_settings(path)
    assert os.environ["A_SETTING"] == "env"
    assert os.environ["B_SETTING"] == "file"
    assert applied == {"B_SETTING": "file"}
    monkeypatch.delenv("B_SETTING")


def test_example_settings_file_is_valid_json_with_values() -> None:
    data = json.loads((ROOT / "local.settings.example.json").read_text())
    assert data["Values"]["FUNCTIONS_WORKER_RUNTIME"] == "python"


def test_serve_command_over_real_http(database_url: str) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "TRACKLY_ENV": "development"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackly", "serve", "--port", str(port), "--no-timers"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/api"
        # A generous bound (180 s) that only matters when the host never starts: a loaded
        # machine (a fresh-clone run measured load average 16 on 2 cores) may take long to import
        # and start it, and that is not a failure. A host that exits fails at once.
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                r = requests.get(f"{base}/health", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "local host did not start"
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert requests.get(f"{base}/openapi.json", timeout=5).json()["openapi"].startswith("3.1")
        assert requests.get(f"{base}/docs", timeout=5).status_code == 200
        assert requests.get(f"{base}/redoc", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert f"http://127.0.0.1:{port}/api/docs" in output


def test_seed_demo_and_create_admin_commands(database_url: str, engine) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRACKLY_ENV": "development",
        "TRACKLY_ADMIN_PASSWORD": "a-strong-password",
    }
    run = lambda *args: subprocess.run(
        [sys.executable, "-m", "trackly", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seeded = run("seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    again = run("seed-demo")  # idempotent
    assert "0 users and 0 issues" in again.stdout
    created = run("create-admin", "--email", "Boss@Example.com", "--name", "Boss")
    assert created.returncode == 0, created.stderr
    with engine.connect() as conn:
        roles = dict(conn.execute(text("SELECT email, role FROM users")).all())
    assert roles["admin@trackly.com"] == "ADMIN"
    assert roles["reporter@trackly.com"] == "REPORTER"
    assert roles["boss@example.com"] == "ADMIN"
    assert len(roles) == 5
    with engine.connect() as conn:
        issues = conn.execute(text("SELECT count(*) FROM issues")).scalar()
        span = conn.execute(text("SELECT max(created_at) - min(created_at) FROM events")).scalar()
        reopened = conn.execute(
            text(
                "SELECT count(*) FROM events WHERE type = 'issue_status_changed' "
                "AND payload->'changes'->'status' = '[\"DONE\", \"OPEN\"]'::jsonb"
            )
        ).scalar()
    # Two weeks of history through the issues service: something for the dashboard to draw.
    assert issues == 6
    assert span.days >= 12
    assert reopened == 1


def test_seed_demo_refuses_production(database_url: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRACKLY_ENV": "production",
        "JWT_SECRET_KEY": "p" * 40,
    }
    out = subprocess.run(
        [sys.executable, "-m", "trackly", "seed-demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "production" in out.stderr


def test_timers_fire_on_their_schedule_and_a_failing_timer_keeps_the_host_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import azure.functions as func

    from trackly.local.host import LocalHost

    fired: list[bool] = []
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    monkeypatch.setenv("TEST_TICK_SCHEDULE", "* * * * * *")  # every second

    @app.function_name("tick")
    @app.timer_trigger(schedule="%TEST_TICK_SCHEDULE%", arg_name="timer", run_on_startup=False)
    def tick(timer: func.TimerRequest) -> None:
        fired.append(timer.past_due)
        if len(fired) == 1:
            raise RuntimeError("first run fails; the loop must go on")

    host = LocalHost(app)
    assert [t.name for t in host.timers] == ["tick"]
    stop = threading.Event()
    threads = host.start_timers(stop)
    try:
        deadline = time.monotonic() + 30  # an upper bound for a loaded machine, not a speed check
        while len(fired) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    assert fired[:2] == [False, False]
