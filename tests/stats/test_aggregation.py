"""The aggregation service against real PostgreSQL: every column of every day, carried-forward
days, timezone edges, idempotence, incremental == full, concurrency, the per-run bound."""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.stats.history import History, OrmWriter, at, build_story, comparable, stored_rows
from tests.support.statements import app_statements
from trackly import clock, db
from trackly.config import get_settings
from trackly.errors import Conflict, Unprocessable
from trackly.stats import service


def run(now: datetime, **kw: Any) -> service.Outcome:
    with clock.frozen(now), db.session_scope() as session:
        return service.run_scheduled(session=session, settings=get_settings(), **kw)


@pytest.fixture
def history(reporter: Any) -> History:
    return History(OrmWriter(reporter.id))


def test_every_column_of_every_day(history: History, engine: Engine) -> None:
    build_story(history)
    outcome = run(at(6, 23))
    assert outcome.acquired
    assert outcome.ranges == [(date(2026, 3, 1), date(2026, 3, 6))]
    assert outcome.rows == 6
    assert comparable(stored_rows(engine)) == comparable(history.expected_rows(date(2026, 3, 6)))


def test_story_values_written_out_by_hand(history: History, engine: Engine) -> None:
    """The same story, a few columns spelled out (guards the Python reference itself)."""
    build_story(history)
    run(at(6, 23))
    rows = {r["date"].day: r for r in stored_rows(engine)}
    # Mar 1 end: A TRIAGED HIGH, B DONE MEDIUM (resolved at 23:59:59.999999), C OPEN LOW.
    assert (rows[1]["status_open"], rows[1]["status_triaged"], rows[1]["status_done"]) == (1, 1, 1)
    assert (rows[1]["created_count"], rows[1]["resolved_count"], rows[1]["total_issues"]) == (3, 1, 3)
    assert rows[1]["mean_hours_to_done"] == pytest.approx(13 + 59 / 60 + 59.999999 / 3600, abs=1e-9)
    # Mar 2: B reopened at 00:00:00 (a Mar 2 event) and resolved again; C deleted; D created.
    assert (rows[2]["total_issues"], rows[2]["status_done"], rows[2]["resolved_count"]) == (3, 1, 1)
    assert (rows[2]["severity_critical"], rows[2]["severity_low"], rows[2]["unresolved_critical"]) == (
        1,
        0,
        1,
    )
    # Mar 3: A and E resolved (E reopened later that day); D lowered to MEDIUM; D and E open.
    assert (rows[3]["resolved_count"], rows[3]["status_done"], rows[3]["status_open"]) == (2, 2, 2)
    # Mar 4: quiet day: the Mar 3 state carried forward, no activity.
    for column in ("status_open", "status_done", "total_issues", "severity_medium", "unresolved_low"):
        assert rows[4][column] == rows[3][column]
    assert (rows[4]["created_count"], rows[4]["resolved_count"], rows[4]["mean_hours_to_done"]) == (
        0,
        0,
        None,
    )
    # Mar 5: B resolved twice (counts 2), E deleted, F created.
    assert (rows[5]["resolved_count"], rows[5]["created_count"], rows[5]["total_issues"]) == (2, 1, 4)
    # Mar 6: A reopened as LOW, D resolved: B and D DONE, A and F open.
    assert (rows[6]["status_done"], rows[6]["status_open"], rows[6]["unresolved_low"]) == (2, 2, 1)


def test_timezone_edges(history: History, engine: Engine) -> None:
    history.create(at(1, 23, 59, 59, 999_999), "late")
    history.create(at(2, 0, 0, 0), "early")
    history.status(at(2, 23, 59, 59), "late", "DONE")
    run(at(3, 12))
    rows = {r["date"].day: r for r in stored_rows(engine)}
    assert (rows[1]["created_count"], rows[1]["total_issues"]) == (1, 1)
    assert (rows[2]["created_count"], rows[2]["total_issues"], rows[2]["resolved_count"]) == (1, 2, 1)
    assert rows[2]["mean_hours_to_done"] == pytest.approx(24 - 0.999999 / 3600, abs=1e-9)
    assert (rows[3]["created_count"], rows[3]["total_issues"], rows[3]["status_done"]) == (0, 2, 1)


def test_empty_history_writes_nothing(engine: Engine) -> None:
    outcome = run(at(3))
    assert outcome.acquired
    assert outcome.ranges == []
    assert stored_rows(engine) == []


def test_running_twice_changes_nothing_but_computed_at(history: History, engine: Engine) -> None:
    build_story(history)
    run(at(6, 12))
    first = stored_rows(engine)
    second_outcome = run(at(6, 13))
    second = stored_rows(engine)
    # Only today was recomputed: the past days were already final.
    assert second_outcome.ranges == [(date(2026, 3, 6), date(2026, 3, 6))]
    strip = ("computed_at",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in first] == [
        {k: v for k, v in r.items() if k not in strip} for r in second
    ]
    assert [r["computed_at"] for r in first[:-1]] == [r["computed_at"] for r in second[:-1]]
    assert second[-1]["computed_at"] == at(6, 13)


def test_late_events_of_yesterday_are_picked_up_after_midnight(history: History, engine: Engine) -> None:
    history.create(at(1, 10), "A")
    run(at(1, 23, 30))  # computes Mar 1 "as of now"
    history.create(at(1, 23, 50), "B")  # after that run, same day
    run(at(2, 0, 5))  # Mar 1 not final yet (computed before its end): recomputed
    rows = {r["date"].day: r for r in stored_rows(engine)}
    assert rows[1]["total_issues"] == 2
    assert rows[2]["total_issues"] == 2
    # Mar 1 was computed at 00:05, within SETTLE of its end: still not final, recomputed again.
    assert run(at(2, 0, 30)).ranges == [(date(2026, 3, 1), date(2026, 3, 2))]
    assert run(at(2, 1)).ranges == [(date(2026, 3, 2), date(2026, 3, 2))]
    assert comparable(stored_rows(engine)) == comparable(history.expected_rows(date(2026, 3, 2)))


def random_history(h: History, *, seed: int, issues: int, days: int) -> date:
    rng = random.Random(seed)
    moments = sorted(
        at(1) - timedelta(hours=12) + timedelta(seconds=rng.randrange(days * 86400))
        for _ in range(issues * 4)
    )
    alive: dict[str, str] = {}
    counter = 0
    allowed = {
        "OPEN": ("TRIAGED", "DONE"),
        "TRIAGED": ("IN_PROGRESS", "OPEN", "DONE"),
        "IN_PROGRESS": ("DONE", "TRIAGED"),
        "DONE": ("OPEN",),
    }
    for moment in moments:
        roll = rng.random()
        if not alive or (roll < 0.25 and counter < issues):
            counter += 1
            key = f"I{counter}"
            h.create(moment, key, rng.choice(("LOW", "MEDIUM", "HIGH", "CRITICAL")))
            alive[key] = "OPEN"
        elif roll < 0.3:
            key = rng.choice(sorted(alive))
            h.delete(moment, key)
            del alive[key]
        elif roll < 0.4:
            h.severity(moment, rng.choice(sorted(alive)), rng.choice(("LOW", "MEDIUM", "HIGH", "CRITICAL")))
        else:
            key = rng.choice(sorted(alive))
            new = rng.choice(allowed[alive[key]])
            h.status(moment, key, new)
            alive[key] = new
    return max(moments).date()


@pytest.fixture
def random_story(history: History) -> tuple[History, date]:
    last = random_history(history, seed=7, issues=40, days=20)
    return history, last


def test_random_history_matches_python_and_naive_sql(
    random_story: tuple[History, date], engine: Engine
) -> None:
    h, last = random_story
    run(datetime(last.year, last.month, last.day, 23, tzinfo=UTC))
    rows = stored_rows(engine)
    assert comparable(rows) == comparable(h.expected_rows(last))
    # The fast path (running sums over deltas) equals the naive DISTINCT ON state for random days.
    rng = random.Random(3)
    with db.session_scope() as session:
        for row in rng.sample(rows, 8):
            naive = service.state_at_end_of(row["date"], session=session)
            assert naive == {k: row[k] for k in naive}, row["date"]


def test_incremental_runs_equal_a_full_rebuild(history: History, engine: Engine) -> None:
    """A timer firing a few times a day (each run reading only the new events on top of the
    previous final row) ends with the same rows as one full rebuild."""
    rng = random.Random(11)
    keys: list[str] = []
    state: dict[str, str] = {}
    nxt = {"OPEN": "TRIAGED", "TRIAGED": "IN_PROGRESS", "IN_PROGRESS": "DONE", "DONE": "OPEN"}
    for day in range(1, 9):
        for hour in (3, 9, 15, 21):
            for minute in range(0, 60, 20):
                moment = at(day, hour, minute)
                if not keys or rng.random() < 0.4:
                    key = f"K{len(keys)}"
                    keys.append(key)
                    history.create(moment, key, rng.choice(("LOW", "HIGH")))
                    state[key] = "OPEN"
                elif rng.random() < 0.1:
                    key = rng.choice(sorted(state))
                    history.delete(moment, key)
                    del state[key]
                elif state:
                    key = rng.choice(sorted(state))
                    state[key] = nxt[state[key]]
                    history.status(moment, key, state[key])
            outcome = run(at(day, hour, 59))
            assert outcome.ranges[-1][1] == date(2026, 3, day)
    incremental = comparable(stored_rows(engine))
    assert incremental == comparable(history.expected_rows(date(2026, 3, 8)))
    with clock.frozen(at(8, 23)), db.session_scope() as session:
        service.rebuild(date(2026, 3, 1), date(2026, 3, 8), session=session, settings=None)
    assert comparable(stored_rows(engine)) == incremental


def test_chunked_rebuild_equals_single_statement(random_story: tuple[History, date], engine: Engine) -> None:
    h, last = random_story
    seen: list[int] = []
    with (
        clock.frozen(datetime(last.year, last.month, last.day, 23, tzinfo=UTC)),
        db.session_scope() as session,
    ):
        outcome = service.rebuild(
            date(2026, 2, 1), last, session=session, settings=None, chunk_days=3, progress=seen.append
        )
    first = h.first_day()
    assert outcome.ranges == [(first, last)]  # clamped to the first event's day
    assert sum(seen) == (last - first).days + 1
    assert comparable(stored_rows(engine)) == comparable(h.expected_rows(last))


def test_rebuild_of_a_middle_range_uses_the_events_not_stored_rows(history: History, engine: Engine) -> None:
    build_story(history)
    run(at(6, 23))
    with engine.begin() as conn:  # corrupt stored rows: a rebuild must not build on them
        conn.execute(text("UPDATE daily_stats SET status_open = 99, total_issues = 99"))
    with clock.frozen(at(6, 23)), db.session_scope() as session:
        outcome = service.rebuild(
            date(2026, 3, 3), date(2026, 3, 5), session=session, settings=get_settings()
        )
    assert outcome.rows == 3
    rows = {r["date"].day: r for r in comparable(stored_rows(engine))}
    for day in (3, 4, 5):
        assert rows[day] == comparable([history.expected(date(2026, 3, day))])[0]
    assert rows[2]["status_open"] == 99  # outside the range: untouched


def test_rebuild_refuses_bad_ranges(settings_env: Any) -> None:
    settings_env(STATS_BACKFILL_MAX_DAYS="5")
    with clock.frozen(at(10)), db.session_scope() as session:
        for start, end, words in (
            (date(2026, 3, 5), date(2026, 3, 4), "must not be after"),
            (date(2026, 3, 1), date(2026, 3, 6), "at most 5 days"),
            (date(2026, 3, 9), date(2026, 3, 11), "after today"),
        ):
            with pytest.raises(Unprocessable, match=words):
                service.rebuild(start, end, session=session, settings=get_settings())


def test_backfill_is_bounded_per_run_and_continues(
    history: History, engine: Engine, settings_env: Any
) -> None:
    settings_env(STATS_BACKFILL_MAX_DAYS="3")
    build_story(history)
    first = run(at(6, 23))
    assert first.ranges == [(date(2026, 3, 4), date(2026, 3, 6))]
    assert first.remaining_days == 3
    second = run(at(6, 23, 30))
    # Newest missing days first (today always), at most 3 per run.
    assert second.ranges == [(date(2026, 3, 2), date(2026, 3, 3)), (date(2026, 3, 6), date(2026, 3, 6))]
    third = run(at(6, 23, 45))
    assert third.ranges == [(date(2026, 3, 1), date(2026, 3, 1)), (date(2026, 3, 6), date(2026, 3, 6))]
    assert third.remaining_days == 0
    assert comparable(stored_rows(engine)) == comparable(history.expected_rows(date(2026, 3, 6)))


def test_a_run_finding_the_lock_taken_does_nothing(history: History, engine: Engine) -> None:
    build_story(history)
    with clock.frozen(at(6, 23)):
        holder = db.new_session()
        try:
            assert service.run_scheduled(session=holder, settings=get_settings()).rows == 6
            with db.session_scope() as other:
                skipped = service.run_scheduled(session=other, settings=get_settings())
                assert skipped.acquired is False
                assert skipped.rows == 0
                with pytest.raises(Conflict):
                    service.rebuild(date(2026, 3, 1), date(2026, 3, 2), session=other, settings=None)
            holder.commit()
        finally:
            holder.close()
    assert comparable(stored_rows(engine)) == comparable(history.expected_rows(date(2026, 3, 6)))


def test_concurrent_runs_do_no_duplicate_work(history: History, engine: Engine) -> None:
    build_story(history)
    barrier = threading.Barrier(4)
    outcomes: list[service.Outcome] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with db.session_scope() as session:
                barrier.wait(timeout=10)
                outcomes.append(service.run_scheduled(session=session, settings=get_settings()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    with clock.frozen(at(6, 23)):
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors
    assert len(outcomes) == 4
    # Whoever found the lock taken did nothing; a run that got it after the first committed saw
    # final rows and recomputed only today. Six days were computed exactly once.
    computed = sorted(o.days for o in outcomes if o.acquired)
    assert computed[-1] == 6
    assert all(days == 1 for days in computed[:-1])
    assert comparable(stored_rows(engine)) == comparable(history.expected_rows(date(2026, 3, 6)))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM daily_stats")).scalar() == 6


def test_deleted_issue_rows_do_not_matter_only_events_do(history: History, engine: Engine) -> None:
    """Past days come from the events: changing the issues table afterwards changes nothing."""
    build_story(history)
    with engine.begin() as conn:
        conn.execute(text("UPDATE issues SET status = 'OPEN', severity = 'LOW'"))
    run(at(6, 23))
    assert comparable(stored_rows(engine)) == comparable(history.expected_rows(date(2026, 3, 6)))


def test_an_incremental_run_and_a_chunked_rebuild_send_few_statements(
    history: History, engine: Engine
) -> None:
    """Each chunk's base is one statement: yesterday's stored row (state and insights together) or
    one pass over the earlier events, and a chunk reads the row it wrote only if another follows."""
    build_story(history)
    run(at(6, 1))  # Mar 1-5 are final: the next run builds on Mar 5's stored row
    with app_statements() as statements:
        outcome = run(at(6, 23))
        incremental = list(statements)
        statements.clear()
        with clock.frozen(at(6, 23)), db.session_scope() as session:
            service.rebuild(date(2026, 3, 2), date(2026, 3, 6), session=session, settings=None, chunk_days=2)
        rebuild = list(statements)
    assert outcome.ranges == [(date(2026, 3, 6), date(2026, 3, 6))]
    # The lock, the first event's day, the days needing work, JIT off, Mar 5's row, the range.
    assert len(incremental) == 6, incremental
    # The lock, the first event's day, JIT off, the base from the events, three chunks (2 + 2 + 1
    # days) and the two rows the later chunks start from.
    assert len(rebuild) == 9, rebuild
    assert comparable(stored_rows(engine)) == comparable(history.expected_rows(date(2026, 3, 6)))
