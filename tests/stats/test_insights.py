"""Daily insights (open issues per assignee, unassigned open issues, median time to first staff
response) built through the real API under a frozen clock, checked against a plain-Python
reference computed from the test's own list of actions; idempotent, and a rebuild or a chunked
rebuild gives the same rows."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.stats.history import at, days_between, stored_rows
from tests.support.api import Api
from trackly import clock, db
from trackly.config import get_settings
from trackly.stats import service

INSIGHTS = ("open_by_assignee", "unassigned_open", "median_hours_to_first_response")


@dataclass
class Issue:
    creator: str
    created_at: datetime
    status: str = "OPEN"
    assignee: str | None = None
    alive: bool = True


@dataclass
class Reference:
    """The API calls of a story and what each day's insight columns must say."""

    apis: dict[str, Api]
    ids: dict[str, str]  # actor name -> user id
    staff: set[str]
    issues: dict[str, Issue] = field(default_factory=dict)
    issue_ids: dict[str, str] = field(default_factory=dict)
    states: list[tuple[datetime, dict[str, tuple[bool, str | None]]]] = field(default_factory=list)
    first_responses: dict[str, datetime] = field(default_factory=dict)

    def _snapshot(self, moment: datetime) -> None:
        state = {k: (i.alive and i.status != "DONE", i.assignee) for k, i in self.issues.items()}
        self.states.append((moment, state))

    def create(self, moment: datetime, who: str, key: str) -> None:
        with clock.frozen(moment):
            resp = self.apis[who].post("issues", json={"title": f"Issue {key}"})
        assert resp.status_code == 201, resp.text
        self.issue_ids[key] = resp.json()["id"]
        self.issues[key] = Issue(who, moment)
        self._snapshot(moment)

    def _patch(self, moment: datetime, key: str, body: dict[str, Any]) -> None:
        with clock.frozen(moment):
            resp = self.apis["admin"].patch(f"issues/{self.issue_ids[key]}", json=body)
        assert resp.status_code == 200, resp.text
        self._snapshot(moment)

    def assign(self, moment: datetime, key: str, who: str | None) -> None:
        self.issues[key].assignee = who
        self._patch(moment, key, {"assignee_id": self.ids[who] if who else None})

    def status(self, moment: datetime, key: str, status: str) -> None:
        self.issues[key].status = status
        self._patch(moment, key, {"status": status})

    def comment(self, moment: datetime, who: str, key: str) -> None:
        with clock.frozen(moment):
            resp = self.apis[who].post(f"issues/{self.issue_ids[key]}/comments", json={"body": "hi"})
        assert resp.status_code == 201, resp.text
        issue = self.issues[key]
        if who in self.staff and who != issue.creator and key not in self.first_responses:
            self.first_responses[key] = moment

    def delete(self, moment: datetime, key: str) -> None:
        with clock.frozen(moment):
            resp = self.apis["admin"].delete(f"issues/{self.issue_ids[key]}")
        assert resp.status_code == 200, resp.text
        self.issues[key].alive = False
        self._snapshot(moment)

    def expected(self, day: date) -> dict[str, Any]:
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        state: dict[str, tuple[bool, str | None]] = {}
        for moment, snapshot in self.states:
            if moment < end:
                state = snapshot
        per: dict[str, int] = {}
        for is_open, assignee in state.values():
            if is_open and assignee is not None:
                per[self.ids[assignee]] = per.get(self.ids[assignee], 0) + 1
        hours = [
            (answered - self.issues[key].created_at).total_seconds() / 3600
            for key, answered in self.first_responses.items()
            if answered.date() == day
        ]
        return {
            "open_by_assignee": per,
            "unassigned_open": sum(1 for is_open, a in state.values() if is_open and a is None),
            "median_hours_to_first_response": statistics.median(hours) if hours else None,
        }


def insight_rows(engine: Engine) -> dict[date, dict[str, Any]]:
    out = {}
    for row in stored_rows(engine):
        median = row["median_hours_to_first_response"]
        out[row["date"]] = {
            "open_by_assignee": row["open_by_assignee"],
            "unassigned_open": row["unassigned_open"],
            "median_hours_to_first_response": None if median is None else round(median, 6),
        }
    return out


def expected_rows(ref: Reference, last: date) -> dict[date, dict[str, Any]]:
    out = {}
    for day in days_between(date(2026, 3, 1), last):
        row = ref.expected(day)
        if row["median_hours_to_first_response"] is not None:
            row["median_hours_to_first_response"] = round(row["median_hours_to_first_response"], 6)
        out[day] = row
    return out


@pytest.fixture
def ref(  # noqa: PLR0917 (fixtures)
    as_admin: Api, as_maintainer: Api, as_reporter: Api, as_other_reporter: Api, admin: Any, maintainer: Any
) -> Reference:
    r = Reference(
        apis={"admin": as_admin, "maint": as_maintainer, "rep": as_reporter, "other": as_other_reporter},
        ids={"admin": str(admin.id), "maint": str(maintainer.id)},
        staff={"admin", "maint"},
    )
    # Mar 1: X (reporter), Y (other reporter), Z (admin's own); X assigned to maint; the reporter's
    # own comment and the admin's comment on their own issue are no responses; maint answers X.
    r.create(at(1, 9), "rep", "X")
    r.create(at(1, 10), "other", "Y")
    r.create(at(1, 11), "admin", "Z")
    r.assign(at(1, 12), "X", "maint")
    r.comment(at(1, 13), "rep", "X")
    r.comment(at(1, 15), "maint", "X")  # first response to X: 6 h
    r.comment(at(1, 16), "admin", "Z")
    # Mar 2: Y answered (22 h) and assigned to admin; X answered again (not a first); X resolved.
    r.comment(at(2, 8), "maint", "Y")
    r.comment(at(2, 8, 30), "admin", "X")
    r.assign(at(2, 9), "Y", "admin")
    r.status(at(2, 10), "X", "TRIAGED")
    r.status(at(2, 11), "X", "IN_PROGRESS")
    r.status(at(2, 12), "X", "DONE")
    # Mar 3: quiet (the state carries forward). Mar 4: X reopened and moved to admin; Z answered
    # by maint (72 h) and assigned to maint; Y deleted while open and assigned.
    r.status(at(4, 10), "X", "OPEN")
    r.comment(at(4, 11), "maint", "Z")
    r.delete(at(4, 12), "Y")
    r.assign(at(4, 13), "X", "admin")
    r.assign(at(4, 14), "Z", "maint")
    # Mar 5: two new issues answered in 0.5 h and 2 h (median 1.25 h); Z unassigned at 23:59:59.
    r.create(at(5, 9), "rep", "W")
    r.comment(at(5, 9, 30), "maint", "W")
    r.create(at(5, 10), "other", "V")
    r.comment(at(5, 12), "admin", "V")
    r.assign(at(5, 23, 59, 59), "Z", None)
    return r


def _run(now: datetime) -> service.Outcome:
    with clock.frozen(now), db.session_scope() as session:
        return service.run_scheduled(session=session, settings=get_settings())


def test_insights_match_the_python_reference(
    ref: Reference, engine: Engine, admin: Any, maintainer: Any
) -> None:
    _run(at(5, 23, 59, 59, 500_000))
    rows = insight_rows(engine)
    assert rows == expected_rows(ref, date(2026, 3, 5))
    # A few values spelled out (guards the reference itself).
    a, m = str(admin.id), str(maintainer.id)
    assert rows[date(2026, 3, 1)] == {"open_by_assignee": {m: 1}, "unassigned_open": 2,
                                      "median_hours_to_first_response": 6.0}  # fmt: skip
    assert rows[date(2026, 3, 2)]["open_by_assignee"] == {a: 1}
    assert rows[date(2026, 3, 2)]["median_hours_to_first_response"] == 22.0
    assert rows[date(2026, 3, 3)] == {**rows[date(2026, 3, 2)], "median_hours_to_first_response": None}
    assert rows[date(2026, 3, 4)] == {"open_by_assignee": {a: 1, m: 1}, "unassigned_open": 0,
                                      "median_hours_to_first_response": 72.0}  # fmt: skip
    assert rows[date(2026, 3, 5)] == {"open_by_assignee": {a: 1}, "unassigned_open": 3,
                                      "median_hours_to_first_response": 1.25}  # fmt: skip


def test_insights_are_idempotent_and_a_rebuild_or_chunks_give_the_same_rows(
    ref: Reference, engine: Engine
) -> None:
    _run(at(3, 23))  # part of the story is aggregated early; the later run continues from it
    _run(at(5, 23, 59, 59, 500_000))
    first = insight_rows(engine)
    assert first == expected_rows(ref, date(2026, 3, 5))
    _run(at(5, 23, 59, 59, 600_000))
    assert insight_rows(engine) == first
    with clock.frozen(at(5, 23, 59, 59, 700_000)), db.session_scope() as session:
        service.rebuild(date(2026, 3, 1), date(2026, 3, 5), session=session, settings=None, chunk_days=1)
    assert insight_rows(engine) == first
    with clock.frozen(at(5, 23, 59, 59, 800_000)), db.session_scope() as session:  # a middle range alone
        service.rebuild(date(2026, 3, 3), date(2026, 3, 4), session=session, settings=None)
    assert insight_rows(engine) == first


def test_daily_endpoint_serves_the_insights(ref: Reference, as_admin: Api, as_maintainer: Api) -> None:
    with clock.frozen(at(5, 23, 59, 59, 500_000)):
        assert as_admin.post("stats/aggregate").status_code == 200
        body = as_maintainer.get("stats/daily", params={"limit": 1}).json()
    assert body[0]["date"] == "2026-03-05"
    assert body[0]["unassigned_open"] == 3
    assert body[0]["median_hours_to_first_response"] == pytest.approx(1.25)
    assert list(body[0]["open_by_assignee"].values()) == [1]


def test_an_incremental_run_never_builds_on_a_row_from_before_the_insights(
    ref: Reference, engine: Engine
) -> None:
    from sqlalchemy import text

    _run(at(4, 1))  # Mar 1-3 are final now: the next run starts from Mar 3's stored row
    with engine.begin() as conn:  # what a row written before migration 0006 looks like
        conn.execute(
            text(
                "UPDATE daily_stats SET unassigned_open = NULL, open_by_assignee = '{\"x\": 99}' WHERE date = :d"
            ),
            {"d": date(2026, 3, 3)},
        )
    _run(at(5, 23, 59, 59, 500_000))
    rows, expected = insight_rows(engine), expected_rows(ref, date(2026, 3, 5))
    assert rows[date(2026, 3, 4)] == expected[date(2026, 3, 4)]
    assert rows[date(2026, 3, 5)] == expected[date(2026, 3, 5)]


def test_every_change_to_what_is_counted_records_a_state_event() -> None:
    """The statistics read an issue's state (status, severity, assignee) from its state events
    only (`service.STATE_EVENT_TYPES`); whatever an update changes, its event must be one."""
    from itertools import combinations

    from trackly.events.types import EventType
    from trackly.issues.service import TRACKED_FIELDS, _update_event_type

    for size in range(1, len(TRACKED_FIELDS) + 1):
        for fields in combinations(TRACKED_FIELDS, size):
            kind = _update_event_type({name: [None, "x"] for name in fields})
            if {"status", "severity", "assignee_id"} & set(fields):
                assert kind in service.STATE_EVENT_TYPES, (fields, kind)
    assert {EventType.ISSUE_CREATED, EventType.ISSUE_DELETED} <= set(service.STATE_EVENT_TYPES)
