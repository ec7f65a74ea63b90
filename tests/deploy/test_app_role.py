"""infra/hooks/app_role.py against real PostgreSQL: the app's role is an ordinary principal with
its timeouts (role settings, as PgBouncer's transaction pooling keeps no session SET) and data
privileges only.

Azure's `pgaadauth_create_principal_with_oid` exists only on Azure Database for PostgreSQL; the
stand-in below checks what it checks (object type, object id shape) and, like it, creates a LOGIN
role that is an administrator only when asked. A scratch database plays the `postgres`
maintenance database, so nothing is added to the shared server's own databases.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg2
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]

STAND_IN = """
CREATE FUNCTION pgaadauth_create_principal_with_oid(
    rolename text, objectid text, objecttype text, isadmin boolean, ismfa boolean) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF objecttype NOT IN ('user', 'group', 'service') THEN
        RAISE EXCEPTION 'objecttype must be user, group or service, not %', objecttype;
    END IF;
    IF objectid !~ '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$' THEN
        RAISE EXCEPTION 'objectid % is not an object id', objectid;
    END IF;
    EXECUTE format('CREATE ROLE %I LOGIN', rolename);
    IF isadmin THEN
        EXECUTE format('ALTER ROLE %I CREATEROLE CREATEDB', rolename);
    END IF;
    RETURN format('Created role for "%s"', rolename);
END $$;
"""


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("app_role", ROOT / "infra" / "hooks" / "app_role.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["app_role"] = module
    spec.loader.exec_module(module)
    return module


app_role = _load()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


@pytest.fixture
def scratch(database_url: str) -> Iterator[dict[str, Any]]:
    """A maintenance database with the stand-in, the app database (migrated), a role name."""
    server = make_url(database_url)
    maintenance = f"trackly_maint_{uuid.uuid4().hex[:8]}"
    role = f"id-trackly-{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{maintenance}"'))
    maintenance_url = server.set(database=maintenance).render_as_string(hide_password=False)
    with psycopg2.connect(_libpq(maintenance_url)) as conn, conn.cursor() as cur:
        cur.execute(STAND_IN)
    conn.close()
    yield {
        "maintenance_url": _libpq(maintenance_url),
        "app_url": _libpq(database_url),
        "database": server.database,
        "name": role,
        "object_id": str(uuid.uuid4()),
        "server": server,
    }
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{maintenance}" WITH (FORCE)'))
        conn.execute(text(f'DROP OWNED BY "{role}"')) if _role_exists(conn, role) else None
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    admin.dispose()


def _role_exists(conn: Any, role: str) -> bool:
    return bool(conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar())


def _drop_owned_in_app_db(app_url: str, role: str) -> None:
    with psycopg2.connect(app_url) as conn, conn.cursor() as cur:
        cur.execute(f'DROP OWNED BY "{role}"')
    conn.close()


TIMEOUTS = {
    "statement_timeout": "45s",
    "lock_timeout": "1500",
    "idle_in_transaction_session_timeout": "25000",
}


def test_the_app_role_is_an_ordinary_principal_with_timeouts_and_data_privileges(
    scratch: dict[str, Any],
) -> None:
    args = {k: scratch[k] for k in ("maintenance_url", "app_url", "name", "object_id", "database")}
    said = app_role.ensure_app_role(**args, **TIMEOUTS)
    assert said[0] == f"created database role {scratch['name']} (an ordinary principal)"
    for setting, value in TIMEOUTS.items():
        assert f"{setting} {value} for {scratch['name']} in {scratch['database']}" in said
    try:
        with psycopg2.connect(scratch["app_url"]) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = %s",
                (scratch["name"],),
            )
            assert cur.fetchone() == (False, False, False, True)
        conn.close()
        # Log in as the app: the timeout applies, data is readable and writable, DDL is not.
        as_app = scratch["server"].set(username=scratch["name"], password=None)
        with (
            psycopg2.connect(_libpq(as_app.render_as_string(hide_password=False))) as conn,
            conn.cursor() as cur,
        ):
            # What every PgBouncer server connection of the app starts with: no SET needed.
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone() == ("45s",)
            cur.execute("SHOW lock_timeout")
            assert cur.fetchone() == ("1500ms",)
            cur.execute("SHOW idle_in_transaction_session_timeout")
            assert cur.fetchone() == ("25s",)
            cur.execute("SELECT count(*) FROM issues")
            cur.execute("SELECT nextval('events_id_seq')")
            cur.execute("DELETE FROM daily_stats WHERE false")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("DROP TABLE issues")
        conn.close()
        # Again: nothing to create, nothing fails.
        again = app_role.ensure_app_role(**args, **TIMEOUTS)
        assert again[0] == f"database role {scratch['name']} exists"
    finally:
        _drop_owned_in_app_db(scratch["app_url"], scratch["name"])


def test_a_role_that_is_still_an_administrator_is_reported(scratch: dict[str, Any]) -> None:
    with psycopg2.connect(scratch["maintenance_url"]) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE ROLE "{scratch["name"]}" LOGIN SUPERUSER')
    conn.close()
    args = {k: scratch[k] for k in ("maintenance_url", "app_url", "name", "object_id", "database")}
    try:
        said = app_role.ensure_app_role(**args, **TIMEOUTS)
        assert said[0].startswith(f"WARNING role {scratch['name']} is an administrator")
        assert scratch["object_id"] in said[0]
    finally:
        _drop_owned_in_app_db(scratch["app_url"], scratch["name"])


def test_the_stand_in_refuses_what_azure_refuses(scratch: dict[str, Any]) -> None:
    conn = psycopg2.connect(scratch["maintenance_url"])
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.RaiseException, match="objecttype"):
            cur.execute(
                "SELECT pgaadauth_create_principal_with_oid('x', %s, 'app', false, false)",
                (str(uuid.uuid4()),),
            )
    finally:
        conn.close()


def test_the_role_timeouts_are_the_ones_the_app_uses() -> None:
    """Without overrides, the role gets the app's lock and idle-in-transaction timeouts as the
    Function App's settings (functionapp.bicep) and trackly.config's defaults have them."""
    bicep = (ROOT / "infra" / "modules" / "functionapp.bicep").read_text()

    def in_bicep(name: str) -> str:
        found = re.search(rf"^\s*{name}:\s*'(\d+)'", bicep, re.MULTILINE)
        assert found, name
        return found.group(1)

    assert app_role.app_timeouts({}) == {
        "lock_timeout": in_bicep("DATABASE_LOCK_TIMEOUT_MS"),
        "idle_in_transaction_session_timeout": in_bicep("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS"),
    }
    overridden = app_role.app_timeouts(
        {"DATABASE_LOCK_TIMEOUT_MS": "700", "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS": "9000"}
    )
    assert overridden == {"lock_timeout": "700", "idle_in_transaction_session_timeout": "9000"}


def test_a_refused_role_setting_warns_and_the_deployment_goes_on(scratch: dict[str, Any]) -> None:
    """PostgreSQL 16 refuses ALTER ROLE ... SET to a deployer without ADMIN OPTION on the role; here
    (PostgreSQL 15 on this machine) a deployer without CREATEROLE is refused the same way. The hook
    warns with the statement to run and still grants the privileges; the limits that always apply
    are the server parameters (infra/modules/postgres.bicep)."""
    deployer = f"deployer-{uuid.uuid4().hex[:8]}"
    server = scratch["server"]
    with psycopg2.connect(scratch["maintenance_url"]) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE ROLE "{scratch["name"]}" LOGIN')
        cur.execute(f'CREATE ROLE "{deployer}" LOGIN')
    conn.close()
    with psycopg2.connect(scratch["app_url"]) as conn, conn.cursor() as cur:
        # What it may pass on: the data privileges, with GRANT OPTION (as a table owner could).
        cur.execute(f'GRANT CONNECT ON DATABASE "{scratch["database"]}" TO "{deployer}" WITH GRANT OPTION')
        cur.execute(f'GRANT USAGE ON SCHEMA public TO "{deployer}" WITH GRANT OPTION')
        cur.execute(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{deployer}" WITH GRANT OPTION'
        )
        cur.execute(
            f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "{deployer}" WITH GRANT OPTION'
        )
    conn.close()
    as_deployer = lambda database: _libpq(
        server.set(username=deployer, password=None, database=database).render_as_string(hide_password=False)
    )
    try:
        said = app_role.ensure_app_role(
            maintenance_url=as_deployer(make_url(scratch["maintenance_url"]).database),
            app_url=as_deployer(scratch["database"]),
            name=scratch["name"],
            object_id=scratch["object_id"],
            database=scratch["database"],
            **TIMEOUTS,
        )
        warnings = [line for line in said if line.startswith("WARNING could not set")]
        assert len(warnings) == 3, said
        assert all(f'ALTER ROLE "{scratch["name"]}" IN DATABASE' in line for line in warnings)
        assert said[-1] == f"privileges granted to {scratch['name']}"
        as_app = server.set(username=scratch["name"], password=None)
        with (
            psycopg2.connect(_libpq(as_app.render_as_string(hide_password=False))) as conn,
            conn.cursor() as cur,
        ):
            cur.execute("SELECT count(*) FROM issues")  # the grants arrived
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone() == ("0",)  # no role setting: only the server default applies
        conn.close()
    finally:
        _drop_owned_in_app_db(scratch["app_url"], scratch["name"])
        _drop_owned_in_app_db(scratch["app_url"], deployer)
        with psycopg2.connect(scratch["maintenance_url"]) as conn, conn.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{deployer}"')
        conn.close()
