"""Alembic: one linear history that upgrades, downgrades and upgrades again with no drift."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from trackly import schema


def test_history_is_linear_with_a_single_head() -> None:
    scripts = ScriptDirectory.from_config(schema.alembic_config())
    assert len(scripts.get_heads()) == 1
    assert len(scripts.get_bases()) == 1
    for revision in scripts.walk_revisions():
        assert not revision.is_merge_point


def test_upgrade_downgrade_upgrade_and_no_drift(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        schema.upgrade(empty_database)
        tables = set(inspect(engine).get_table_names())
        assert {"users", "issues", "events", "daily_stats", "refresh_tokens", "attachments"} <= tables

        schema.downgrade(empty_database, "base")
        engine.dispose()
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

        schema.upgrade(empty_database)
        engine.dispose()
        # `alembic check` raises when the models and the migrated schema differ.
        command.check(schema.alembic_config(empty_database))
    finally:
        engine.dispose()
