"""Shared fixtures: a fresh PostgreSQL database per test run, a clean slate per test, the local
host serving function_app.py over real HTTP, and user/token factories.

PostgreSQL: `TEST_DATABASE_URL` (a server URL; a new database is created on it) or, when unset,
an embedded PostgreSQL in .trackly/test-pgdata. Never SQLite.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from tests.support.api import Api
from tests.support.azurite import azurite  # noqa: F401 (fixture for every suite)

ROOT = Path(__file__).resolve().parents[1]
TEST_JWT_SECRET = "test-secret-key-that-is-long-enough-0123456789"

BASE_ENV = {
    "TRACKLY_ENV": "test",
    "JWT_SECRET_KEY": TEST_JWT_SECRET,
    "FRONTEND_URL": "http://localhost:5173",
    "TRACKLY_ALLOWED_ORIGINS": "",
    "LOG_LEVEL": "WARNING",
    # Every test request comes from 127.0.0.1 and the suites make thousands: budgets no run can
    # exhaust. tests/ratelimit sets small ones to test the limits themselves.
    "RATE_LIMIT_PER_USER": "10000000",
    "RATE_LIMIT_ANONYMOUS": "10000000",
    "RATE_LIMIT_SIGN_IN": "10000000",
    "RATE_LIMIT_PUBLIC": "10000000",
}


def _server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from trackly.local.database import start_embedded

    return start_embedded(ROOT / ".trackly" / "test-pgdata", database="postgres")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A brand-new database, migrated to head, dropped at the end of the run."""
    from trackly.db import normalize_url

    server = make_url(normalize_url(_server_url()))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"trackly_test_{worker}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)

    saved = {k: os.environ.get(k) for k in [*BASE_ENV, "DATABASE_URL"]}
    for key in [k for k in os.environ if k.startswith(("AZURE_STORAGE", "WEBPUBSUB", "GOOGLE", "MICROSOFT"))]:
        os.environ.pop(key)
    os.environ.update(BASE_ENV)
    os.environ["DATABASE_URL"] = url
    from trackly import db, schema
    from trackly.config import reset_settings

    reset_settings()
    db.dispose_engine()
    schema.upgrade(url)
    yield url
    db.dispose_engine()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """A direct engine for test setup and assertions (separate from the app's own engine)."""
    eng = create_engine(database_url, pool_size=2)
    yield eng
    eng.dispose()


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    """A new database with nothing in it (for migration tests), dropped afterwards."""
    server = make_url(database_url)
    name = f"trackly_empty_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that touches the database starts from empty tables."""
    if "database_url" not in request.fixturenames and "api" not in request.fixturenames:
        yield
        return
    eng: Engine = request.getfixturevalue("engine")
    with eng.begin() as conn:
        tables = conn.execute(
            text(
                "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ).scalar()
        if tables:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield


@pytest.fixture
def settings_env(database_url: str) -> Iterator[Callable[..., None]]:
    """Change settings for one test: `settings_env(SIGNUP_ENABLED="true")`. Restored afterwards."""
    from trackly.config import reset_settings

    saved: dict[str, str | None] = {}

    def apply(**values: Any) -> None:
        for key, value in values.items():
            saved.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = str(value)
        reset_settings()

    yield apply
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings()


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[str]:
    """function_app.py served by the local host on a free loopback port, in this process
    (so tests can change settings and freeze the clock for it)."""
    import logging

    import function_app
    from trackly.local.host import build_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server, _local = build_server(function_app.app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api"
    server.shutdown()
    server.server_close()


@pytest.fixture
def api(live_server: str) -> Api:
    return Api(live_server)


# --- users and tokens ------------------------------------------------------------------------

_HASHES: dict[str, str] = {}


def _hash(password: str) -> str:
    from trackly.auth.passwords import hash_password

    if password not in _HASHES:
        _HASHES[password] = hash_password(password)
    return _HASHES[password]


class UserFactory:
    """Creates users directly in the database and mints access tokens for them."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.count = 0

    def __call__(
        self,
        role: str = "REPORTER",
        *,
        email: str | None = None,
        password: str = "password123",
        full_name: str | None = None,
        is_active: bool = True,
    ) -> Any:
        from sqlalchemy.orm import Session

        from trackly.models import Role, User

        self.count += 1
        user = User(
            email=email or f"user{self.count}-{uuid.uuid4().hex}@example.com",
            full_name=full_name or f"{role.title()} {self.count}",
            role=Role(role),
            password_hash=_hash(password),
            is_active=is_active,
        )
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(user)
            session.commit()
        return user

    def token(self, user: Any) -> str:
        """An access token of a new sign-in session, started the way login starts one, so
        every request made with it runs the production session check."""
        from sqlalchemy.orm import Session

        from trackly.auth.sessions import start_session
        from trackly.config import get_settings
        from trackly.models import User

        with Session(self.engine) as session:
            row = session.get(User, user.id)
            assert row is not None, "users.token needs a user that exists"
            login = start_session(row, session=session, settings=get_settings())
            session.commit()
        return login.tokens.access_token


    def pat(self, user: Any, scopes: Any = None, *, days: int = 30, name: str = "test token") -> str:
        """A personal access token of `user` made by the production service (every scope unless
        `scopes` is given)."""
        from datetime import timedelta

        from sqlalchemy.orm import Session

        from trackly import clock
        from trackly.auth.policy import Scope
        from trackly.config import get_settings
        from trackly.models import User
        from trackly.tokens import service as tokens
        from trackly.tokens.schemas import TokenCreateIn

        body = TokenCreateIn(
            name=name,
            scopes=list(Scope) if scopes is None else [Scope(s) for s in scopes],
            expires_at=clock.now() + timedelta(days=days),
        )
        with Session(self.engine) as session:
            owner = session.get(User, user.id)
            assert owner is not None, "users.pat needs a user that exists"
            created = tokens.issue(owner, body, session=session, settings=get_settings())
            session.commit()
        return created.token

    def service_account(self, role: str = "REPORTER", name: str = "CI bot") -> Any:
        from sqlalchemy.orm import Session

        from trackly.models import Role
        from trackly.users.service import create_service_account

        with Session(self.engine, expire_on_commit=False) as session:
            user = create_service_account(name, Role(role), session=session)
            session.commit()
        return user


@pytest.fixture
def users(engine: Engine) -> UserFactory:
    return UserFactory(engine)


@pytest.fixture
def admin(users: UserFactory) -> Any:
    return users("ADMIN", full_name="Alice Admin")


@pytest.fixture
def maintainer(users: UserFactory) -> Any:
    return users("MAINTAINER", full_name="Mark Maintainer")


@pytest.fixture
def reporter(users: UserFactory) -> Any:
    return users("REPORTER", full_name="Rita Reporter")


@pytest.fixture
def other_reporter(users: UserFactory) -> Any:
    return users("REPORTER", full_name="Oscar Other")


@pytest.fixture
def as_admin(api: Api, admin: Any, users: UserFactory) -> Api:
    return api.as_(users.token(admin))


@pytest.fixture
def as_maintainer(api: Api, maintainer: Any, users: UserFactory) -> Api:
    return api.as_(users.token(maintainer))


@pytest.fixture
def as_reporter(api: Api, reporter: Any, users: UserFactory) -> Api:
    return api.as_(users.token(reporter))


@pytest.fixture
def as_other_reporter(api: Api, other_reporter: Any, users: UserFactory) -> Api:
    return api.as_(users.token(other_reporter))
