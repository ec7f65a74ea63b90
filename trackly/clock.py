"""The current time, in one place so tests can move it (statistics across several days)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """Timezone-aware UTC now (or the frozen time in tests)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Pretend it is `at` (tests only). Not thread-local on purpose: the in-thread test server
    must see the same time as the test."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("frozen() needs a timezone-aware datetime")
    previous, _frozen = _frozen, at
    try:
        yield
    finally:
        _frozen = previous
