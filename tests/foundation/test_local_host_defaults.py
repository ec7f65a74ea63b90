"""The local host is a development tool (issue 13, items 6-7): with only DATABASE_URL set it
serves development settings and the demo users (only into a database without users: never a
known-password ADMIN in one that has accounts), accepts the client's dev server under both
loopback names, and logs unrouted requests and refused preflights. Production stays strict."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from tests.support.api import Api
from trackly.config import Settings
from trackly.local.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")


def _bare_env(**extra: str) -> dict[str, str]:
    """The environment of a newcomer's shell: none of the test run's TRACKLY/JWT settings."""
    drop = ("TRACKLY_", "JWT_", "DATABASE_", "AZURE_STORAGE", "WEBPUBSUB", "FRONTEND_URL", "CORS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def _serve(database_url: str) -> tuple[subprocess.Popen[str], str]:
    """`python -m trackly serve` with only DATABASE_URL set; returns once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackly", "serve", "--port", str(port), "--no-timers"],
        cwd=ROOT,
        env=_bare_env(DATABASE_URL=database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api"
    for _ in range(600):
        if proc.poll() is not None:
            break
        try:
            requests.get(f"{base}/health", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[0]
    return proc, base


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    return output


def _admin_login(base: str) -> requests.Response:
    return requests.post(
        f"{base}/auth/login", json={"email": "admin@trackly.com", "password": "admin123"}, timeout=30
    )


def test_serve_with_only_database_url_is_development_with_demo_users(empty_database: str) -> None:
    # A database with no users yet (a new one, as the embedded database starts): demo users.
    proc, base = _serve(empty_database)
    try:
        login = _admin_login(base)
        assert login.status_code == 200, login.text
        for origin in CLIENT_ORIGINS:
            pre = requests.options(
                f"{base}/issues",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
                timeout=5,
            )
            assert pre.status_code == 204, (origin, pre.status_code)
            assert pre.headers["Access-Control-Allow-Origin"] == origin
        refused = requests.options(
            f"{base}/issues",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
            timeout=5,
        )
        assert refused.status_code == 403
        # The original client's SSE stream is replaced: it must show up in the terminal.
        assert requests.get(f"{base}/issues/events?token=x", timeout=5).status_code == 404
    finally:
        output = _stop(proc)
    assert "(development)" in output
    assert "Demo sign-in: admin@trackly.com" in output
    assert "refused preflight: OPTIONS /api/issues -> 403" in output
    assert "unrouted request: GET /api/issues/events -> 404" in output


def test_serve_adds_no_demo_users_to_a_database_that_has_users(empty_database: str) -> None:
    from trackly import schema
    from trackly.auth.passwords import hash_password
    from trackly.models import Role, User

    schema.upgrade(empty_database)
    engine = create_engine(empty_database)
    with Session(engine) as session, session.begin():
        session.add(
            User(
                email="owner@example.com",
                full_name="Real Owner",
                role=Role.ADMIN,
                password_hash=hash_password("a-real-password"),
            )
        )
    proc, base = _serve(empty_database)
    try:
        assert _admin_login(base).status_code == 401
    finally:
        output = _stop(proc)
    with engine.connect() as conn:
        emails = conn.execute(select(User.email)).scalars().all()
        issues = conn.execute(text("SELECT count(*) FROM issues")).scalar()
    engine.dispose()
    assert emails == ["owner@example.com"]
    assert issues == 0
    assert "(development)" in output
    assert "Demo data not seeded: the database already has users" in output
    assert "Demo sign-in" not in output


def test_serve_in_production_stays_strict(database_url: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "trackly", "serve", "--port", str(free_port()), "--no-timers"],
        cwd=ROOT,
        env=_bare_env(DATABASE_URL=database_url, TRACKLY_ENV="production"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "JWT_SECRET_KEY" in out.stderr


def test_the_function_app_itself_defaults_to_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKLY_ENV", raising=False)
    assert Settings.model_fields["TRACKLY_ENV"].default == "production"
    monkeypatch.setenv("JWT_SECRET_KEY", "")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@db/trackly")
    with pytest.raises(ValueError, match="JWT_SECRET_KEY"):
        Settings()


@pytest.mark.parametrize("frontend", ["http://localhost:5173", "http://127.0.0.1:5173"])
def test_development_allows_both_loopback_names(monkeypatch: pytest.MonkeyPatch, frontend: str) -> None:
    monkeypatch.setenv("TRACKLY_ENV", "development")
    monkeypatch.setenv("FRONTEND_URL", frontend)
    monkeypatch.delenv("TRACKLY_ALLOWED_ORIGINS", raising=False)
    assert sorted(Settings().cors_origins) == sorted(CLIENT_ORIGINS)
    # Outside development only what is configured.
    monkeypatch.setenv("TRACKLY_ENV", "test")
    monkeypatch.setenv("JWT_SECRET_KEY", "t" * 40)
    assert Settings().cors_origins == [frontend]
    monkeypatch.setenv("TRACKLY_ENV", "development")
    monkeypatch.setenv("FRONTEND_URL", "https://app.example.com")
    assert Settings().cors_origins == ["https://app.example.com"]


def test_unrouted_requests_are_logged(api: Api, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="trackly.local.host"):
        assert api.get("nowhere/at-all").status_code == 404
        assert api.delete("health").status_code == 405
    messages = [r.getMessage() for r in caplog.records if r.name == "trackly.local.host"]
    assert "unrouted request: GET /api/nowhere/at-all -> 404" in messages
    assert any(m.startswith("unrouted request: DELETE /api/health -> 405") for m in messages)
