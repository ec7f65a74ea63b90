"""Fixed-window budgets and the IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers).

Every request is counted once, in the statement that authenticates it (trackly.auth.current) or,
on anonymous endpoints, in one upsert (`count`). A window is `RATE_LIMIT_WINDOW_SECONDS` long
and starts at a multiple of it since the Unix epoch, so every instance agrees on it without
talking to the others; the counter row is keyed by (subject, window start).

With a quota of q, the q-th request of a window still succeeds (`RateLimit: r=0`); the next one
answers 429 with `Retry-After` set to the seconds left in the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, String, bindparam, literal, select, update
from sqlalchemy.dialects.postgresql import insert

from trackly.errors import TooManyRequests
from trackly.ratelimit.policies import Policy

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from trackly.config import Settings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def quota(policy: Policy, settings: Settings) -> int:
    return {
        Policy.USER: settings.RATE_LIMIT_PER_USER,
        Policy.ANONYMOUS: settings.RATE_LIMIT_ANONYMOUS,
        Policy.SIGN_IN: settings.RATE_LIMIT_SIGN_IN,
        Policy.PUBLIC: settings.RATE_LIMIT_PUBLIC,
    }[policy]


def address_subject(policy: Policy, client_ip: str) -> str:
    return f"{policy.value}:{client_ip}"[:200]


def window_start(now: datetime, seconds: int) -> datetime:
    elapsed = int((now - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=elapsed - elapsed % seconds)


@dataclass(frozen=True)
class Budget:
    """One counted request: which subject and window, the quota, and the count after it."""

    policy: Policy
    subject: str
    window_start: datetime
    window_seconds: int
    quota: int
    hits: int
    now: datetime

    @property
    def exhausted(self) -> bool:
        return self.hits > self.quota

    @property
    def remaining(self) -> int:
        return max(0, self.quota - self.hits)

    @property
    def reset_seconds(self) -> int:
        end = self.window_start + timedelta(seconds=self.window_seconds)
        return max(1, math.ceil((end - self.now).total_seconds()))

    def refunded(self) -> Budget:
        return Budget(**{**self.__dict__, "hits": self.hits - 1})

    def headers(self) -> dict[str, str]:
        name = self.policy.value
        return {
            "RateLimit-Policy": f'"{name}";q={self.quota};w={self.window_seconds}',
            "RateLimit": f'"{name}";r={self.remaining};t={self.reset_seconds}',
        }

    def refuse(self) -> TooManyRequests:
        return TooManyRequests(
            f"Too many requests: the budget of {self.quota} requests per {self.window_seconds} "
            f"seconds ('{self.policy.value}') is used up. Try again in {self.reset_seconds} seconds.",
            retry_after=self.reset_seconds,
            headers=self.headers(),
        )


def params_for(subject: str | None, start: datetime) -> dict[str, Any]:
    """The binds of `hit_statement` (`subject` None: the statement computes it)."""
    out: dict[str, Any] = {"rl_window_start": start}
    if subject is not None:
        out["rl_subject"] = subject
    return out


def hit_statement(subject: Any) -> Any:
    """`INSERT ... ON CONFLICT DO UPDATE SET hits = hits + 1 RETURNING hits, subject` for one
    (subject, window): `subject` is a SQL expression (a bind, or one computed from a token row)."""
    from trackly.models import RateLimitCounter

    table: Any = RateLimitCounter.__table__
    start = bindparam("rl_window_start", type_=DateTime(timezone=True))
    stmt = insert(table).from_select(["subject", "window_start", "hits"], select(subject, start, literal(1)))
    return stmt.on_conflict_do_update(
        index_elements=[table.c.subject, table.c.window_start],
        set_={"hits": table.c.hits + 1},
    ).returning(table.c.hits, table.c.subject)


def subject_param() -> Any:
    return bindparam("rl_subject", type_=String(200))


@lru_cache(maxsize=1)
def _anonymous_hit() -> Any:
    return hit_statement(subject_param())


def prepare(policy: Policy, settings: Settings, now: datetime) -> tuple[datetime, int, int]:
    seconds = settings.RATE_LIMIT_WINDOW_SECONDS
    return window_start(now, seconds), seconds, quota(policy, settings)


def count(policy: Policy, subject: str, *, settings: Settings, now: datetime) -> Budget:
    """Count one request of `subject` (one statement) and return its budget.

    On a connection of its own, returned to the pool at once: an anonymous endpoint may need
    another connection for its own short transaction (the sign-in throttle), and holding this one
    meanwhile would need two per request."""
    from trackly import db

    start, seconds, q = prepare(policy, settings, now)
    with db.get_engine().connect() as conn:
        dbapi: Any = conn.connection.dbapi_connection
        dbapi.autocommit = True  # committed by itself; psycopg2 switches without a round trip
        try:
            hits, counted = conn.execute(_anonymous_hit(), params_for(subject, start)).one()
        finally:
            db.restore_transactions(dbapi)
    return Budget(policy, str(counted), start, seconds, q, int(hits), now)


def refund(budget: Budget, *, session: Session) -> Budget:
    """Give a request back (a 304: revalidation is not counted). One UPDATE, on that path only."""
    from trackly.models import RateLimitCounter

    # Through the connection, not the ORM session: a read-only session refuses DML statements.
    session.connection().execute(
        update(RateLimitCounter)
        .where(
            RateLimitCounter.subject == budget.subject,
            RateLimitCounter.window_start == budget.window_start,
        )
        .values(hits=RateLimitCounter.hits - 1)
    )
    return budget.refunded()
