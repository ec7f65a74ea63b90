"""Stored days older than the event retention window are never rebuilt (their events may be pruned)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from trackly.errors import Unprocessable
from trackly.models import DailyStats
from trackly.stats import service


def test_rebuild_refuses_stored_days_older_than_retention(engine, settings_env) -> None:
    settings_env(EVENT_RETENTION_DAYS="30")
    today = service.utc_today()
    old = today - timedelta(days=40)
    with Session(engine) as s:
        s.add(DailyStats(date=old, total_issues=7))
        s.commit()
    with Session(engine) as s, pytest.raises(Unprocessable, match="EVENT_RETENTION_DAYS"):
        service.rebuild(old - timedelta(days=2), today, session=s, settings=None)
    # Inside the window, and old days without a stored row, are fine.
    with Session(engine) as s:
        service.rebuild(today - timedelta(days=29), today, session=s, settings=None)
        service.rebuild(old - timedelta(days=5), old - timedelta(days=1), session=s, settings=None)
        s.commit()
    with Session(engine) as s:
        assert s.get(DailyStats, 1) is not None
        row = s.query(DailyStats).filter_by(date=old).one()
        assert row.total_issues == 7  # untouched
