"""Waiting, in a test, until another transaction is blocked on a lock (no sleeps that guess)."""

from __future__ import annotations

import threading

from sqlalchemy import text
from sqlalchemy.engine import Engine

# Only a broken test waits this long: a blocked backend shows up within milliseconds.
LOCK_WAIT_LIMIT_S = 60.0
_POLL_S = 0.01


def wait_for_lock_wait(
    engine: Engine, *, pid: int | None = None, like: str = "%", done: threading.Event | None = None
) -> None:
    """Return once a backend of this test's database waits for a lock: the backend `pid` if
    given, else any whose statement is LIKE `like`. Also returns once `done` is set (the other
    side finished without waiting; the caller asserts on that). Fails after LOCK_WAIT_LIMIT_S."""
    stop = done or threading.Event()
    with engine.connect() as conn:
        for _ in range(int(LOCK_WAIT_LIMIT_S / _POLL_S)):
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                    "AND (pid = :pid OR (CAST(:pid AS integer) IS NULL AND query LIKE :like))"
                ),
                {"pid": pid, "like": like},
            ).scalar()
            conn.rollback()
            if waiting or stop.is_set():
                return
            stop.wait(_POLL_S)
    raise AssertionError("no transaction ever waited for the lock")
