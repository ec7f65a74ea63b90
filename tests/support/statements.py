"""Counting the SQL statements the app sends (the app's own engine, in this process)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def app_statements() -> Iterator[list[str]]:
    """Collect every statement the app's engine executes inside the block (the live server runs
    in this process, so HTTP calls made in the block count too). Clear the list between parts."""
    from trackly import db

    app_engine = db.get_engine()
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(app_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(app_engine, "before_cursor_execute", count)
