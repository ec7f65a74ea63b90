"""The app's PostgreSQL role: an ordinary Entra principal, its timeouts, data privileges.

Run by infra/hooks/postprovision.sh as the deploying principal (a PostgreSQL Entra administrator):

    POSTGRES_LIBPQ_URL=... AZURE_MANAGED_IDENTITY_NAME=... AZURE_MANAGED_IDENTITY_PRINCIPAL_ID=... \
    POSTGRES_DATABASE=trackly APP_STATEMENT_TIMEOUT=60s python infra/hooks/app_role.py

1. In the `postgres` database (where Azure's pgaadauth_* functions live) it creates the role with
   `pgaadauth_create_principal_with_oid(name, object id, 'service', isAdmin => false, isMfa =>
   false)`, mapped to the identity's object id, unless the role exists. A role that is still an
   administrator (an older deployment made the identity an Entra administrator) is reported.
2. `ALTER ROLE ... IN DATABASE ... SET` statement_timeout (APP_STATEMENT_TIMEOUT, 60s: a
   backstop for runaway queries), lock_timeout and idle_in_transaction_session_timeout (the app's
   own DATABASE_LOCK_TIMEOUT_MS and DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS, defaults from
   trackly.config). trackly/db.py SETs its limits on every new connection, but in Azure the app
   connects through PgBouncer in transaction pooling, where a session SET reaches only the server
   connection it happened to run on; every server connection starts from the role's settings.
   This is a second layer: the deployer may be refused (PostgreSQL 16 wants ADMIN OPTION on the
   role), which only warns. The limits that always apply are server parameters
   (infra/modules/postgres.bicep: statement_timeout, lock_timeout,
   idle_in_transaction_session_timeout).
3. In the app's database: CONNECT, USAGE on `public`, SELECT/INSERT/UPDATE/DELETE on the tables,
   USAGE/SELECT/UPDATE on the sequences, and the same by default for what later migrations
   create (the tables belong to the principal that ran the migrations). Nothing more: no DDL.

Idempotent: running it again changes nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import errors, sql

ROOT = Path(__file__).resolve().parents[2]

GRANTS = (
    "GRANT CONNECT ON DATABASE {db} TO {role}",
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
)

# Superuser, or a member of Azure's administrators role (a name, so it also works where that
# role does not exist).
_IS_ADMIN = """
SELECT r.rolsuper OR EXISTS (
    SELECT 1 FROM pg_auth_members m JOIN pg_roles a ON a.oid = m.roleid
    WHERE m.member = r.oid AND a.rolname = 'azure_pg_admin')
FROM pg_roles r WHERE r.rolname = %s
"""


def ensure_app_role(
    *,
    maintenance_url: str,
    app_url: str,
    name: str,
    object_id: str,
    database: str,
    statement_timeout: str,
    lock_timeout: str,
    idle_in_transaction_session_timeout: str,
) -> list[str]:
    """Do steps 1-3; return what happened, one line each."""
    said: list[str] = []
    role_settings = {
        "statement_timeout": statement_timeout,
        "lock_timeout": lock_timeout,
        "idle_in_transaction_session_timeout": idle_in_transaction_session_timeout,
    }
    role = sql.Identifier(name)
    with psycopg2.connect(maintenance_url) as conn, conn.cursor() as cur:
        cur.execute(_IS_ADMIN, (name,))
        row = cur.fetchone()
        if row is None:
            cur.execute(
                "SELECT * FROM pgaadauth_create_principal_with_oid(%s, %s, 'service', false, false)",
                (name, object_id),
            )
            said.append(f"created database role {name} (an ordinary principal)")
        elif row[0]:
            said.append(
                f"WARNING role {name} is an administrator (an older deployment made the app's identity "
                "an Entra administrator). Remove it: az postgres flexible-server microsoft-entra-admin "
                f"delete --resource-group <rg> --server-name <server> --object-id {object_id}"
            )
        else:
            said.append(f"database role {name} exists")
    conn.close()
    with psycopg2.connect(app_url) as conn, conn.cursor() as cur:
        for setting, value in role_settings.items():
            try:
                cur.execute("SAVEPOINT role_setting")
                cur.execute(
                    sql.SQL("ALTER ROLE {role} IN DATABASE {db} SET {setting} = {value}").format(
                        role=role,
                        db=sql.Identifier(database),
                        setting=sql.Identifier(setting),
                        value=sql.Literal(value),
                    )
                )
                said.append(f"{setting} {value} for {name} in {database}")
            except errors.InsufficientPrivilege as exc:
                # Do not fail the deployment over a backstop; say what to run instead.
                cur.execute("ROLLBACK TO SAVEPOINT role_setting")
                said.append(
                    f"WARNING could not set {setting} for {name} ({exc.pgerror or exc}); as a server "
                    f'administrator run: ALTER ROLE "{name}" IN DATABASE "{database}" SET {setting} = '
                    f"'{value}'"
                )
        for statement in GRANTS:
            cur.execute(sql.SQL(statement).format(role=role, db=sql.Identifier(database)))
        said.append(f"privileges granted to {name}")
    conn.close()
    return said


def app_timeouts(environ: Mapping[str, str]) -> dict[str, str]:
    """lock_timeout and idle_in_transaction_session_timeout as the app's own settings have them
    (DATABASE_LOCK_TIMEOUT_MS, DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS; their defaults are the
    ones trackly.config declares and the Bicep sets). In milliseconds, PostgreSQL's unit for both."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as a script, only infra/hooks is on the path
    from trackly.config import Settings  # noqa: PLC0415 (needs the path above)

    def value(name: str) -> str:
        return str(int(environ.get(name) or Settings.model_fields[name].default))

    return {
        "lock_timeout": value("DATABASE_LOCK_TIMEOUT_MS"),
        "idle_in_transaction_session_timeout": value("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS"),
    }


def main() -> int:
    app_url = os.environ["POSTGRES_LIBPQ_URL"]
    maintenance_url = urlunsplit(urlsplit(app_url)._replace(path="/postgres"))
    for line in ensure_app_role(
        maintenance_url=maintenance_url,
        app_url=app_url,
        name=os.environ["AZURE_MANAGED_IDENTITY_NAME"],
        object_id=os.environ["AZURE_MANAGED_IDENTITY_PRINCIPAL_ID"],
        database=os.environ["POSTGRES_DATABASE"],
        statement_timeout=os.environ.get("APP_STATEMENT_TIMEOUT", "60s"),
        **app_timeouts(os.environ),
    ):
        print(f"postprovision: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
