"""Build an issue history on chosen (frozen) moments and compute, in plain Python from the test's
own list of actions, what every daily_stats column must say. Nothing here calls the SQL under test.

Two ways to apply the actions:
- `OrmWriter`: Issue rows + `trackly.events.service.record`, as the issues service writes them;
- `ApiWriter`: the real HTTP API (POST/PATCH/DELETE /api/issues) under the frozen clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from trackly import clock

STATUSES = ("OPEN", "TRIAGED", "IN_PROGRESS", "DONE")
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


@dataclass(frozen=True)
class Step:
    at: datetime
    key: str
    kind: str  # create | status | severity | delete
    status: str | None  # state after the step (None: deleted)
    severity: str | None
    issue_created_at: datetime


class Writer(Protocol):
    def create(self, key: str, severity: str) -> None: ...
    def set_status(self, key: str, status: str) -> None: ...
    def set_severity(self, key: str, severity: str) -> None: ...
    def delete(self, key: str) -> None: ...


class History:
    """Apply actions through a writer at frozen moments and remember them."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.steps: list[Step] = []
        self.current: dict[str, tuple[str, str, datetime]] = {}  # key -> (status, severity, created_at)

    def create(self, at: datetime, key: str, severity: str = "MEDIUM") -> None:
        with clock.frozen(at):
            self.writer.create(key, severity)
        self.current[key] = ("OPEN", severity, at)
        self.steps.append(Step(at, key, "create", "OPEN", severity, at))

    def status(self, at: datetime, key: str, status: str) -> None:
        with clock.frozen(at):
            self.writer.set_status(key, status)
        _, severity, created = self.current[key]
        self.current[key] = (status, severity, created)
        self.steps.append(Step(at, key, "status", status, severity, created))

    def severity(self, at: datetime, key: str, severity: str) -> None:
        with clock.frozen(at):
            self.writer.set_severity(key, severity)
        status, _, created = self.current[key]
        self.current[key] = (status, severity, created)
        self.steps.append(Step(at, key, "severity", status, severity, created))

    def delete(self, at: datetime, key: str) -> None:
        with clock.frozen(at):
            self.writer.delete(key)
        created = self.current.pop(key)[2]
        self.steps.append(Step(at, key, "delete", None, None, created))

    # --- what the rows must say -------------------------------------------------------------------
    def first_day(self) -> date:
        return min(s.at for s in self.steps).date()

    def expected(self, day: date) -> dict[str, Any]:
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        state: dict[str, tuple[str | None, str | None]] = {}
        created = resolved = 0
        hours: list[float] = []
        for step in self.steps:  # in the order they happened
            if step.at >= end:
                continue
            before = state.get(step.key, (None, None))[0]
            state[step.key] = (step.status, step.severity)
            if step.at.date() != day:
                continue
            if step.kind == "create":
                created += 1
            if step.status == "DONE" and before != "DONE":
                resolved += 1
                hours.append((step.at - step.issue_created_at).total_seconds() / 3600)
        alive = [(st, sv) for st, sv in state.values() if st is not None]
        row: dict[str, Any] = {
            "date": day,
            **{f"status_{s.lower()}": sum(1 for st, _ in alive if st == s) for s in STATUSES},
            **{f"severity_{v.lower()}": sum(1 for _, sv in alive if sv == v) for v in SEVERITIES},
            "total_issues": len(alive),
            **{
                f"unresolved_{v.lower()}": sum(1 for st, sv in alive if sv == v and st != "DONE")
                for v in SEVERITIES
            },
            "created_count": created,
            "resolved_count": resolved,
            "mean_hours_to_done": sum(hours) / len(hours) if hours else None,
        }
        return row

    def expected_rows(self, last_day: date) -> list[dict[str, Any]]:
        return [self.expected(d) for d in days_between(self.first_day(), last_day)]


def days_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


COLUMNS = (
    "status_open",
    "status_triaged",
    "status_in_progress",
    "status_done",
    "severity_low",
    "severity_medium",
    "severity_high",
    "severity_critical",
    "total_issues",
    "unresolved_low",
    "unresolved_medium",
    "unresolved_high",
    "unresolved_critical",
    "created_count",
    "resolved_count",
    "mean_hours_to_done",
)


def stored_rows(engine: Any) -> list[dict[str, Any]]:
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM daily_stats ORDER BY date")).mappings().all()
    return [dict(r) for r in rows]


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows reduced to date + the computed columns (mean rounded to 6 decimals)."""
    out = []
    for r in rows:
        item = {"date": r["date"], **{c: r[c] for c in COLUMNS}}
        if item["mean_hours_to_done"] is not None:
            item["mean_hours_to_done"] = round(float(item["mean_hours_to_done"]), 6)
        out.append(item)
    return out


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """A moment in March 2026 (UTC)."""
    return datetime(2026, 3, day, hour, minute, second, micro, tzinfo=UTC)


def build_story(h: History) -> None:
    """Six days of activity with a quiet day (Mar 4) in the middle.

    Mar 1: A (HIGH), B, C (LOW) created; A triaged; B resolved at 23:59:59.999999 (edge).
    Mar 2: B reopened at 00:00:00 (edge) and resolved again the same day; C deleted; D (CRITICAL).
    Mar 3: A in progress, then DONE; D lowered to MEDIUM; E created and resolved within the day, then reopened (still the same day).
    Mar 4: nothing happens (the state carries forward).
    Mar 5: B reopened and resolved twice (counts 2); E deleted while OPEN; F created.
    Mar 6: A reopened; D resolved.
    """
    h.create(at(1, 9), "A", "HIGH")
    h.create(at(1, 10), "B")
    h.create(at(1, 11), "C", "LOW")
    h.status(at(1, 15), "A", "TRIAGED")
    h.status(at(1, 23, 59, 59, 999_999), "B", "DONE")
    h.status(at(2, 0, 0, 0), "B", "OPEN")
    h.status(at(2, 8), "B", "DONE")
    h.delete(at(2, 9), "C")
    h.create(at(2, 10), "D", "CRITICAL")
    h.status(at(3, 8), "A", "IN_PROGRESS")
    h.status(at(3, 18), "A", "DONE")
    h.severity(at(3, 19), "D", "MEDIUM")
    h.create(at(3, 20), "E", "LOW")
    h.status(at(3, 21), "E", "DONE")
    h.status(at(3, 22), "E", "OPEN")
    h.status(at(5, 1), "B", "OPEN")
    h.status(at(5, 2), "B", "DONE")
    h.status(at(5, 3), "B", "OPEN")
    h.status(at(5, 4), "B", "DONE")
    h.delete(at(5, 5), "E")
    h.create(at(5, 6), "F", "CRITICAL")
    h.status(at(6, 7), "A", "OPEN")
    h.severity(at(6, 8), "A", "LOW")
    h.status(at(6, 9), "D", "DONE")


# --- writers ----------------------------------------------------------------------------------------


class OrmWriter:
    """Writes Issue rows and their events exactly as the payload convention describes."""

    def __init__(self, owner_id: uuid.UUID) -> None:
        self.owner_id = owner_id
        self.ids: dict[str, uuid.UUID] = {}

    def _apply(self, key: str, change: str, value: str | None) -> None:
        from trackly import db
        from trackly.events import service as events
        from trackly.events.types import EventType
        from trackly.models import Issue, Severity, Status

        with db.session_scope() as session:
            now = clock.now()
            if change == "create":
                assert value is not None
                issue = Issue(
                    title=f"Issue {key}",
                    description="",
                    severity=Severity(value),
                    status=Status.OPEN,
                    created_by=self.owner_id,
                    created_at=now,
                    updated_at=now,
                )
                session.add(issue)
                session.flush()
                self.ids[key] = issue.id
                events.record(
                    session=session,
                    type=EventType.ISSUE_CREATED,
                    issue=issue,
                    actor=None,
                    changes={
                        "title": [None, issue.title],
                        "severity": [None, value],
                        "status": [None, "OPEN"],
                    },
                )
                return
            found = session.get(Issue, self.ids[key])
            assert found is not None
            if change == "delete":
                events.record(session=session, type=EventType.ISSUE_DELETED, issue=found, actor=None)
                session.delete(found)
                return
            assert value is not None
            if change == "status":
                old = found.status.value
                found.status = Status(value)
                kind = EventType.ISSUE_STATUS_CHANGED
            else:
                old = found.severity.value
                found.severity = Severity(value)
                kind = EventType.ISSUE_UPDATED
            found.updated_at = now
            events.record(session=session, type=kind, issue=found, actor=None, changes={change: [old, value]})

    def create(self, key: str, severity: str) -> None:
        self._apply(key, "create", severity)

    def set_status(self, key: str, status: str) -> None:
        self._apply(key, "status", status)

    def set_severity(self, key: str, severity: str) -> None:
        self._apply(key, "severity", severity)

    def delete(self, key: str) -> None:
        self._apply(key, "delete", None)


class ApiWriter:
    """Drives the real issues API (as an ADMIN, who may triage and delete) under the frozen clock."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.ids: dict[str, str] = {}

    def create(self, key: str, severity: str) -> None:
        resp = self.api.post(
            "issues", json={"title": f"Issue {key}", "description": "", "severity": severity}
        )
        assert resp.status_code == 201, resp.text
        self.ids[key] = resp.json()["id"]

    def _patch(self, key: str, body: dict[str, str]) -> None:
        resp = self.api.patch(f"issues/{self.ids[key]}", json=body)
        assert resp.status_code == 200, resp.text

    def set_status(self, key: str, status: str) -> None:
        self._patch(key, {"status": status})

    def set_severity(self, key: str, severity: str) -> None:
        self._patch(key, {"severity": severity})

    def delete(self, key: str) -> None:
        resp = self.api.delete(f"issues/{self.ids[key]}")
        assert resp.status_code == 200, resp.text
