"""Running Alembic migrations from code (CLI, local host, tests)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)

# PostgreSQL's lock_not_available: a statement waited longer than lock_timeout for its lock.
LOCK_NOT_AVAILABLE = "55P03"


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        config.attributes["url"] = url
    return config


def upgrade(url: str | None = None, revision: str = "head", *, lock_timeout_ms: int | None = None) -> None:
    """`lock_timeout_ms`: each migration gives up waiting for a lock after this long, instead of
    queueing behind a long transaction while every request queues behind it (migrations/env.py)."""
    config = alembic_config(url)
    if lock_timeout_ms is not None:
        config.attributes["lock_timeout_ms"] = lock_timeout_ms
    command.upgrade(config, revision)


def upgrade_with_retries(
    url: str | None = None,
    *,
    lock_timeout_ms: int = 3000,
    attempts: int = 5,
    backoff_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Upgrade to head, retrying when a migration could not get its lock in time. Each migration
    runs in its own transaction, so a retry resumes at the one that gave up. Returns the number
    of attempts it took; raises the last error when every attempt timed out."""
    from sqlalchemy import exc

    for attempt in range(1, attempts + 1):
        try:
            upgrade(url, lock_timeout_ms=lock_timeout_ms)
            return attempt
        except exc.OperationalError as error:
            if getattr(error.orig, "pgcode", None) != LOCK_NOT_AVAILABLE or attempt == attempts:
                raise
            wait = backoff_seconds * 2 ** (attempt - 1)
            log.warning(
                "migration could not take its lock within %d ms (attempt %d/%d); retrying in %.0f s",
                lock_timeout_ms,
                attempt,
                attempts,
                wait,
            )
            sleep(wait)
    raise AssertionError("unreachable")


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
