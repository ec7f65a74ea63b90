"""Health: can we reach the database, and is its schema at the migration head?"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

import trackly
from trackly import examples as ex
from trackly.schemas import Schema

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class MigrationState(Schema):
    current: str | None
    head: str | None


class Health(Schema):
    model_config = ex.examples(
        {
            "status": "ok",
            "database": "ok",
            "migrations": {"current": "0014", "head": "0014"},
            "version": "1.0.0",
        }
    )

    status: str
    database: str
    migrations: MigrationState
    version: str


@lru_cache(maxsize=1)
def migration_head() -> str | None:
    """The head revision of the migration scripts shipped with this build."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def check(*, session: Session) -> Health:
    head = migration_head()
    try:
        current = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        database = "ok"
    except Exception:  # any database failure means "unreachable or not migrated"
        session.rollback()
        try:
            session.execute(text("SELECT 1"))
            database, current = "ok", None
        except Exception:
            database, current = "unreachable", None
    healthy = database == "ok" and current == head
    return Health(
        status="ok" if healthy else "degraded",
        database=database,
        migrations=MigrationState(current=current, head=head),
        version=trackly.__version__,
    )
