"""Purging short-lived rows whose job is done: idempotency records, sign-in flow state,
one-time codes, expired refresh tokens, stale login-throttle counters and the rate-limit
counters of windows long over.

Runs from the `cleanup_attachments` timer (every 15 minutes by default). Each DELETE is
idempotent, so two instances running it at once are harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from trackly import clock
from trackly.models import (
    AuthFlow,
    IdempotencyKey,
    LoginCode,
    LoginThrottle,
    RateLimitCounter,
    RefreshToken,
)

IDEMPOTENCY_TTL = timedelta(hours=24)
# Throttle counters are kept a day after their last change so repeat lockouts keep backing off.
THROTTLE_TTL = timedelta(days=1)
# Expired refresh tokens are kept a day so a late reuse is still recognised as a known token.
REFRESH_TTL_AFTER_EXPIRY = timedelta(days=1)
# A window is at most a day (RATE_LIMIT_WINDOW_SECONDS): a counter that started two days ago
# belongs to a window that is over.
RATE_LIMIT_COUNTER_TTL = timedelta(days=2)


@dataclass(frozen=True)
class Purged:
    idempotency_keys: int
    auth_flows: int
    login_codes: int
    refresh_tokens: int
    login_throttle: int
    rate_limit_counters: int = 0


def purge(*, session: Session) -> Purged:
    now = clock.now()

    def count(statement: object) -> int:
        return int(session.execute(statement).rowcount)  # type: ignore[call-overload]

    return Purged(
        idempotency_keys=count(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_TTL)
        ),
        auth_flows=count(delete(AuthFlow).where(AuthFlow.expires_at < now)),
        login_codes=count(delete(LoginCode).where(LoginCode.expires_at < now)),
        refresh_tokens=count(
            delete(RefreshToken).where(RefreshToken.expires_at < now - REFRESH_TTL_AFTER_EXPIRY)
        ),
        login_throttle=count(
            delete(LoginThrottle).where(
                LoginThrottle.updated_at < now - THROTTLE_TTL,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
            )
        ),
        rate_limit_counters=count(
            delete(RateLimitCounter).where(RateLimitCounter.window_start < now - RATE_LIMIT_COUNTER_TTL)
        ),
    )
