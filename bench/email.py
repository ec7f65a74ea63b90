"""Email notifications: how fast one `send_notifications` run builds and sends, and what email
costs a write request.

    python -m bench.email [--emails 300] [--repeat 60]

Uses its own database (`<bench database>_email`, created fresh and dropped at the end) and the
real local SMTP server (trackly.local.mail, aiosmtpd) on a free loopback port.

- **Timer throughput**: N comments by a maintainer on a reporter's issues leave N pending
  notifications; one `sender.run` claims, builds and sends them (instant mode). Baseline, same
  run: the same N messages, already built, sent again by plain `smtplib` on one connection to the
  same server (the transport floor). Figures: emails/s of each and the ratio.
- **Write cost, email on vs off**: `POST /issues/{id}/comments` in-process (the real handler),
  alternating call by call between SMTP configured and not, so machine load hits both alike.
  Email adds nothing to the request path (the timer does the work), so the ratio should be ~1.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import apply_environment, bench_url, ensure_database
from bench.inprocess import InProcessApp, interleaved

RESULTS = Path(__file__).parent / "results"


def _users() -> dict[str, Any]:
    from argon2 import PasswordHasher

    from trackly import db
    from trackly.auth.sessions import start_session
    from trackly.config import get_settings
    from trackly.models import Role, User

    out: dict[str, Any] = {}
    with db.session_scope() as session:
        for role in (Role.MAINTAINER, Role.REPORTER):
            user = User(
                email=f"{role.value.lower()}@bench-email.trackly.test",
                full_name=f"Bench {role.value.title()}",
                role=role,
                password_hash=PasswordHasher().hash("bench-password-123"),
                is_active=True,
            )
            session.add(user)
            session.flush()
            out[role.value] = start_session(
                user, session=session, settings=get_settings()
            ).tokens.access_token
    return out


def _drop(url: str) -> None:
    from trackly import db
    from trackly.db import normalize_url

    db.dispose_engine()
    parsed = make_url(normalize_url(url))
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()

    base = make_url(bench_url(args.database))
    url = base.set(database=f"{base.database}_email").render_as_string(hide_password=False)
    _drop(url)
    ensure_database(url)
    apply_environment(url)
    from trackly.local.mail import LocalMailServer

    with tempfile.TemporaryDirectory() as folder:
        mail = LocalMailServer(Path(folder)).start()
        smtp_env = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(mail.port),
            "SMTP_SECURITY": "none",
            "EMAIL_FROM": "Trackly <notifications@bench.trackly.test>",
        }
        try:
            result = _measure(args, mail, smtp_env)
        finally:
            mail.stop()
            _drop(url)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "email.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _set(env: dict[str, str], on: bool) -> None:
    from trackly.config import reset_settings

    for key, value in env.items():
        if on:
            os.environ[key] = value
        else:
            os.environ.pop(key, None)
    reset_settings()


def _measure(args: argparse.Namespace, mail: Any, smtp_env: dict[str, str]) -> dict[str, Any]:
    from trackly.config import get_settings
    from trackly.email import sender

    _set(smtp_env, False)
    app = InProcessApp()
    tokens = _users()
    reporter, maintainer = tokens["REPORTER"], tokens["MAINTAINER"]
    issues = []
    for i in range(10):
        resp = app.request(
            "POST", "issues", token=reporter, body={"title": f"Bench {i}", "description": "*x*"}
        )
        assert resp.status == 201, resp.body
        issues.append(resp.json()["id"])
    for n in range(args.emails):
        resp = app.request(
            "POST", f"issues/{issues[n % 10]}/comments", token=maintainer, body={"body": f"Note **{n}**"}
        )
        assert resp.status == 201, resp.body

    # --- one timer run ---
    _set(smtp_env, True)
    settings = get_settings().model_copy(update={"EMAIL_BATCH_SIZE": 200})
    started = time.perf_counter()
    run = sender.run(settings=settings)
    timer_s = time.perf_counter() - started
    assert run.sent == args.emails, run
    mail.wait_for(args.emails)
    # The bytes as received (kept by the server), sent again unchanged.
    raw = [p.read_bytes() for p in sorted(mail.directory.glob("*.eml"))[: args.emails]]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", mail.port, timeout=30) as smtp:
        for data in raw:
            smtp.sendmail("notifications@bench.trackly.test", ["reporter@bench-email.trackly.test"], data)
    floor_s = time.perf_counter() - started

    # --- a write with email on vs off ---
    def write(on: bool) -> Any:
        def call() -> None:
            _set(smtp_env, on)
            resp = app.request(
                "POST", f"issues/{issues[0]}/comments", token=maintainer, body={"body": "timed"}
            )
            assert resp.status == 201

        return call

    on, off = interleaved([write(True), write(False)], repeat=args.repeat)
    on_med, off_med = statistics.median(on), statistics.median(off)
    return {
        "emails": args.emails,
        "timer_run_seconds": round(timer_s, 3),
        "timer_emails_per_second": round(args.emails / timer_s, 1),
        "smtplib_floor_emails_per_second": round(args.emails / floor_s, 1),
        "timer_vs_floor_time_ratio": round(timer_s / floor_s, 2),
        "batches": run.batches,
        "write_with_email_on_ms_median": round(on_med, 2),
        "write_with_email_off_ms_median": round(off_med, 2),
        "write_on_off_ratio": round(on_med / off_med, 3),
        "write_on_off_ratio_of_minimums": round(min(on) / min(off), 3),
        "repeat": args.repeat,
    }


if __name__ == "__main__":
    main()
