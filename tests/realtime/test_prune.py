"""Pruning by the outbox timer: only what neither the issue history nor statistics still need."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.realtime.conftest import make_issue, record_event
from trackly import clock
from trackly.local.webpubsub import LocalWebPubSub

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=120)  # beyond the 90-day retention


def _lifecycle(owner: Any, *, days: tuple[datetime, datetime] = (OLD, OLD), delete: bool = True) -> str:
    issue = make_issue(owner)
    with clock.frozen(days[0]):
        record_event("issue_created", issue, owner)
    with clock.frozen(days[1]):
        record_event("issue_deleted" if delete else "issue_updated", issue, owner, delete_issue=delete)
    return str(issue.id)


def _stats_day(engine: Engine, day: date, computed_at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO daily_stats (date, computed_at) VALUES (:d, :c)"), {"d": day, "c": computed_at}
        )


def _remaining(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {str(i) for i in conn.execute(text("SELECT DISTINCT issue_id FROM events")).scalars()}


def _prune() -> int:
    from trackly.config import get_settings
    from trackly.realtime import outbox

    with clock.frozen(NOW):
        return outbox.drain(settings=get_settings()).pruned


def test_prunes_only_deleted_published_old_and_final_in_statistics(
    webpubsub: LocalWebPubSub, reporter: Any, engine: Engine
) -> None:
    from trackly import db
    from trackly.config import get_settings
    from trackly.realtime import outbox

    day = OLD.date()
    prunable = _lifecycle(reporter)
    live_issue = _lifecycle(reporter, delete=False)  # history of an existing issue: kept forever
    recent = _lifecycle(reporter, days=(OLD, NOW - timedelta(days=10)))  # deleted inside the window
    gap = _lifecycle(reporter, days=(OLD - timedelta(days=1), OLD))  # first day never finalized
    unpublished = _lifecycle(reporter)
    with engine.begin() as conn:  # as if Web PubSub never accepted it
        conn.execute(text("UPDATE events SET published_at = NULL WHERE issue_id = :i"), {"i": unpublished})
    _stats_day(engine, day, datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC))

    with clock.frozen(NOW), db.session_scope() as session:
        pruned = outbox.prune(session=session, settings=get_settings())
    assert pruned == 2  # created + deleted of `prunable`
    assert prunable not in _remaining(engine)
    assert _remaining(engine) == {live_issue, recent, gap, unpublished}


def test_waits_until_the_last_day_is_final_in_statistics(
    webpubsub: LocalWebPubSub, reporter: Any, engine: Engine
) -> None:
    issue = _lifecycle(reporter)
    # A row exists, but it was computed during that day: the day is not final yet.
    _stats_day(engine, OLD.date(), OLD + timedelta(hours=1))
    assert _prune() == 0
    assert _remaining(engine) == {issue}
    with engine.begin() as conn:
        conn.execute(text("UPDATE daily_stats SET computed_at = :c"), {"c": OLD + timedelta(days=2)})
    assert _prune() == 2
    assert _remaining(engine) == set()


def test_multi_day_span_needs_every_day_in_statistics(
    webpubsub: LocalWebPubSub, reporter: Any, engine: Engine
) -> None:
    first = OLD - timedelta(days=2)
    issue = _lifecycle(reporter, days=(first, OLD))
    late = OLD + timedelta(days=3)
    _stats_day(engine, first.date(), late)
    _stats_day(engine, OLD.date(), late)
    assert _prune() == 0  # the middle day is missing
    _stats_day(engine, (first + timedelta(days=1)).date(), late)
    assert _prune() == 2
    assert issue not in _remaining(engine)
