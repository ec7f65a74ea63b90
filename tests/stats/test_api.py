"""The statistics endpoints over real HTTP, with a history built through the issues API."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.stats.history import ApiWriter, History, at, build_story, comparable
from tests.support.api import Api, assert_problem
from trackly import clock, db

ORIGINAL_FIELDS = {
    "id",
    "date",
    "status_open",
    "status_triaged",
    "status_in_progress",
    "status_done",
    "severity_low",
    "severity_medium",
    "severity_high",
    "severity_critical",
    "total_issues",
    "created_at",
}
NEW_FIELDS = {
    "unresolved_low",
    "unresolved_medium",
    "unresolved_high",
    "unresolved_critical",
    "created_count",
    "resolved_count",
    "mean_hours_to_done",
    "open_by_assignee",
    "unassigned_open",
    "median_hours_to_first_response",
    "computed_at",
}


def as_rows(body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "date": date.fromisoformat(r["date"])} for r in body]


@pytest.fixture
def story(as_admin: Api) -> History:
    h = History(ApiWriter(as_admin))
    build_story(h)
    return h


def aggregate(client: Api, now: Any, **kw: Any) -> Any:
    with clock.frozen(now):
        return client.post("stats/aggregate", **kw)


def test_dashboard_rows_from_an_api_built_history(story: History, as_admin: Api, as_maintainer: Api) -> None:
    resp = aggregate(as_admin, at(6, 23))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (out["mode"], out["acquired"], out["days"], out["rows"]) == ("scheduled", True, 6, 6)
    assert out["ranges"] == [{"from": "2026-03-01", "to": "2026-03-06"}]

    daily = as_maintainer.get("stats/daily", params={"limit": 30})
    assert daily.status_code == 200, daily.text
    body = daily.json()
    assert [r["date"] for r in body] == [f"2026-03-0{d}" for d in range(6, 0, -1)]  # newest first
    assert all(set(r) == ORIGINAL_FIELDS | NEW_FIELDS for r in body)
    expected = list(reversed(story.expected_rows(date(2026, 3, 6))))
    assert comparable(as_rows(body)) == comparable(expected)


def test_daily_limit_and_range(story: History, as_admin: Api, as_maintainer: Api) -> None:
    aggregate(as_admin, at(6, 23))
    two = as_maintainer.get("stats/daily?limit=2").json()
    assert [r["date"] for r in two] == ["2026-03-06", "2026-03-05"]
    default = as_maintainer.get("stats/daily").json()
    assert len(default) == 6
    ranged = as_maintainer.get("stats/daily", params={"from": "2026-03-02", "to": "2026-03-04"}).json()
    assert [r["date"] for r in ranged] == ["2026-03-04", "2026-03-03", "2026-03-02"]
    only_from = as_maintainer.get("stats/daily", params={"from": "2026-03-05"}).json()
    assert [r["date"] for r in only_from] == ["2026-03-06", "2026-03-05"]
    capped = as_maintainer.get("stats/daily", params={"from": "2026-03-01", "limit": 1}).json()
    assert [r["date"] for r in capped] == ["2026-03-06"]


def test_empty_table_answers_empty_results(as_maintainer: Api) -> None:
    assert as_maintainer.get("stats/daily").json() == []
    summary = as_maintainer.get("stats/summary").json()
    assert summary == {
        "today": None,
        "yesterday": None,
        "changes": {"total_change": None, "open_change": None, "critical_change": None},
        "last_updated": None,
    }


def test_summary_today_against_yesterday(story: History, as_admin: Api, as_maintainer: Api) -> None:
    aggregate(as_admin, at(6, 23))
    with clock.frozen(at(6, 23, 30)):
        body = as_maintainer.get("stats/summary").json()
    today, yesterday = story.expected(date(2026, 3, 6)), story.expected(date(2026, 3, 5))
    assert body["today"]["date"] == "2026-03-06"
    assert body["yesterday"]["date"] == "2026-03-05"
    assert body["changes"] == {
        "total_change": today["total_issues"] - yesterday["total_issues"],
        "open_change": today["status_open"] - yesterday["status_open"],
        "critical_change": today["severity_critical"] - yesterday["severity_critical"],
    }
    assert body["last_updated"].startswith("2026-03-06T23:00:00")
    # A day later nothing was computed for "today" yet: today is null, changes unknown.
    with clock.frozen(at(7, 9)):
        later = as_maintainer.get("stats/summary").json()
    assert later["today"] is None
    assert later["yesterday"]["date"] == "2026-03-06"
    assert later["changes"]["total_change"] is None


def test_trends_series(story: History, as_admin: Api, as_maintainer: Api) -> None:
    aggregate(as_admin, at(6, 23))
    with clock.frozen(at(6, 23, 30)):
        body = as_maintainer.get("stats/trends", params={"days": 8}).json()
    days = [date(2026, 2, 27) + timedelta(days=i) for i in range(8)]
    assert body["days"] == [d.isoformat() for d in days]
    assert body["missing_days"] == ["2026-02-27", "2026-02-28"]
    expected = [story.expected(d) if d.month == 3 else None for d in days]
    assert body["created"] == [e["created_count"] if e else 0 for e in expected]
    assert body["resolved"] == [e["resolved_count"] if e else 0 for e in expected]
    assert body["total"] == [e["total_issues"] if e else 0 for e in expected]
    for sev in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
        assert body["open_by_severity"][sev] == [e[f"unresolved_{sev.lower()}"] if e else 0 for e in expected]
    assert body["mean_hours_to_done"][:2] == [None, None]
    assert body["mean_hours_to_done"][5] is None  # Mar 4: nothing resolved
    with clock.frozen(at(6, 23, 30)):
        assert len(as_maintainer.get("stats/trends").json()["days"]) == 30


def test_rebuild_a_range(story: History, as_admin: Api, engine: Engine) -> None:
    aggregate(as_admin, at(6, 23))
    with engine.begin() as conn:
        conn.execute(text("UPDATE daily_stats SET total_issues = 0"))
    resp = aggregate(as_admin, at(6, 23), json={"from": "2026-02-20", "to": "2026-03-03"})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    # Clamped to the first day with events.
    assert (out["mode"], out["days"], out["rows"]) == ("rebuild", 3, 3)
    assert out["ranges"] == [{"from": "2026-03-01", "to": "2026-03-03"}]
    with engine.connect() as conn:
        totals = dict(
            conn.execute(text("SELECT extract(day FROM date)::int, total_issues FROM daily_stats")).all()
        )
    assert totals == {
        1: story.expected(date(2026, 3, 1))["total_issues"],
        2: story.expected(date(2026, 3, 2))["total_issues"],
        3: story.expected(date(2026, 3, 3))["total_issues"],
        4: 0,
        5: 0,
        6: 0,
    }


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"from": "2026-03-05", "to": "2026-03-01"}, "must not be after"),
        ({"from": "2025-01-01", "to": "2026-03-05"}, "STATS_BACKFILL_MAX_DAYS"),
        ({"from": "2026-03-05", "to": "2026-03-09"}, "after today"),
        ({"from": "2026-03-05"}, "both"),
        ({"from": "2026-03-01", "to": "2026-03-02", "extra": 1}, "not allowed"),
        ({"from": "yesterday", "to": "2026-03-02"}, "body.from"),
    ],
)
def test_aggregate_refuses_bad_ranges(as_admin: Api, body: dict[str, Any], words: str) -> None:
    assert_problem(aggregate(as_admin, at(6, 12), json=body), 422, words)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("stats/daily", {"limit": 0}),
        ("stats/daily", {"limit": 367}),
        ("stats/daily", {"from": "2026-03-05", "to": "2026-03-01"}),
        ("stats/daily", {"from": "03/05/2026"}),
        ("stats/trends", {"days": 0}),
        ("stats/trends", {"days": 367}),
    ],
)
def test_read_endpoints_validate_their_query(as_maintainer: Api, path: str, params: dict[str, Any]) -> None:
    assert_problem(as_maintainer.get(path, params=params), 422)


def test_aggregate_while_another_run_holds_the_lock(as_admin: Api) -> None:
    from trackly.stats.service import LOCK_KEY

    holder = db.new_session()
    try:
        assert holder.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}).scalar()
        assert_problem(aggregate(as_admin, at(6, 12)), 409, "another run")
        assert_problem(aggregate(as_admin, at(6, 12), json={"from": "2026-03-01", "to": "2026-03-02"}), 409)
    finally:
        holder.rollback()
        holder.close()
    assert aggregate(as_admin, at(6, 12)).status_code == 200


def test_roles(api: Api, as_reporter: Api, as_maintainer: Api, as_admin: Api) -> None:
    for path in ("stats/daily", "stats/summary", "stats/trends"):
        assert_problem(api.get(path), 401)
        assert_problem(as_reporter.get(path), 403, "maintainers and admins")
        assert as_maintainer.get(path).status_code == 200
        assert as_admin.get(path).status_code == 200
    assert_problem(api.post("stats/aggregate"), 401)
    assert_problem(as_reporter.post("stats/aggregate"), 403)
    assert_problem(as_maintainer.post("stats/aggregate"), 403)
    assert as_admin.post("stats/aggregate").status_code == 200
