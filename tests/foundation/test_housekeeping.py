"""Housekeeping purges expired short-lived rows and keeps live ones."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trackly import clock, housekeeping
from trackly.models import AuthFlow, IdempotencyKey, LoginCode, LoginThrottle, RefreshToken


def test_purge_removes_only_expired_rows(engine, reporter) -> None:
    now = clock.now()
    old, fresh = now - timedelta(days=3), now - timedelta(minutes=1)
    future = now + timedelta(minutes=5)
    with Session(engine) as s:
        s.add_all(
            [
                IdempotencyKey(user_id=reporter.id, key="old", request_hash=b"x" * 32, created_at=old),
                IdempotencyKey(user_id=reporter.id, key="new", request_hash=b"x" * 32, created_at=fresh),
                AuthFlow(state="old", provider="microsoft", flow={}, expires_at=fresh),
                AuthFlow(state="new", provider="microsoft", flow={}, expires_at=future),
                LoginCode(code_hash=hashlib.sha256(b"a").digest(), user_id=reporter.id, expires_at=fresh),
                LoginCode(code_hash=hashlib.sha256(b"b").digest(), user_id=reporter.id, expires_at=future),
                RefreshToken(
                    token_hash=hashlib.sha256(b"r1").digest(),
                    family_id=uuid.uuid4(),
                    user_id=reporter.id,
                    expires_at=old,
                ),
                RefreshToken(
                    token_hash=hashlib.sha256(b"r2").digest(),
                    family_id=uuid.uuid4(),
                    user_id=reporter.id,
                    expires_at=future,
                ),
                LoginThrottle(key="account:old", failures=3, updated_at=old),
                LoginThrottle(key="account:locked", failures=5, updated_at=old, locked_until=future),
                LoginThrottle(key="account:new", failures=1, updated_at=fresh),
            ]
        )
        s.commit()

    with Session(engine) as s:
        purged = housekeeping.purge(session=s)
        s.commit()
    assert purged == housekeeping.Purged(
        idempotency_keys=1, auth_flows=1, login_codes=1, refresh_tokens=1, login_throttle=1
    )
    with Session(engine) as s:
        for model in (IdempotencyKey, AuthFlow, LoginCode, RefreshToken):
            assert s.scalar(select(func.count()).select_from(model)) == 1, model
        assert set(s.scalars(select(LoginThrottle.key))) == {"account:locked", "account:new"}
        again = housekeeping.purge(session=s)
    assert again == housekeeping.Purged(0, 0, 0, 0, 0)
