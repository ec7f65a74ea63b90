"""GET /api/events: the catch-up feed, filtered like the live groups, in id order, paged by id."""

from __future__ import annotations

from typing import Any

import pytest

from tests.realtime.conftest import make_issue, record_event
from tests.support.api import Api, assert_problem


def _all(client: Api, after: int = 0, limit: int = 2) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        response = client.get("events", params={"after": after, "limit": limit})
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["events"]) <= limit
        if not body["events"]:
            assert body["next_after"] == after
            return out
        assert body["next_after"] == body["events"][-1]["id"]
        out.extend(body["events"])
        after = body["next_after"]


def test_staff_see_everything_reporters_only_their_issues_including_deleted(
    as_reporter: Api, as_other_reporter: Api, as_maintainer: Api, reporter: Any, other_reporter: Any
) -> None:
    mine = make_issue(reporter)
    theirs = make_issue(other_reporter)
    ids = [
        record_event("issue_created", mine, reporter),
        record_event("issue_created", theirs, other_reporter),
        record_event("issue_updated", mine, reporter, changes={"title": ["a", "b"]}),
        record_event("attachment_added", theirs, other_reporter, attachment={"id": "x"}),
        record_event("issue_deleted", mine, reporter, delete_issue=True),
    ]
    staff = _all(as_maintainer)
    assert [e["id"] for e in staff] == ids
    assert [e["type"] for e in staff] == [
        "issue_created",
        "issue_created",
        "issue_updated",
        "attachment_added",
        "issue_deleted",
    ]
    own = _all(as_reporter)
    assert [e["id"] for e in own] == [ids[0], ids[2], ids[4]]
    assert own[-1]["type"] == "issue_deleted"
    assert own[-1]["issue_id"] == str(mine.id)
    assert own[1]["data"]["changes"] == {"title": ["a", "b"]}
    assert own[1]["user_name"] == "Rita Reporter"
    assert [e["id"] for e in _all(as_other_reporter)] == [ids[1], ids[3]]


def test_paging_after_an_id_and_default_limit(as_maintainer: Api, reporter: Any) -> None:
    issue = make_issue(reporter)
    ids = [record_event("issue_updated", issue, reporter, changes={"n": [i, i + 1]}) for i in range(105)]
    first = as_maintainer.get("events").json()
    assert [e["id"] for e in first["events"]] == ids[:100]
    assert first["next_after"] == ids[99]
    rest = as_maintainer.get("events", params={"after": first["next_after"]}).json()
    assert [e["id"] for e in rest["events"]] == ids[100:]
    assert [e["id"] for e in _all(as_maintainer, after=ids[50], limit=7)] == ids[51:]
    assert as_maintainer.get("events", params={"after": ids[-1]}).json() == {
        "events": [],
        "next_after": ids[-1],
    }


def test_reporter_paging_is_filtered_in_sql(as_reporter: Api, reporter: Any, other_reporter: Any) -> None:
    mine, theirs = make_issue(reporter), make_issue(other_reporter)
    own: list[int] = []
    for i in range(6):
        record_event("issue_updated", theirs, other_reporter, changes={"n": [i, i]})
        own.append(record_event("issue_updated", mine, reporter, changes={"n": [i, i]}))
    page = as_reporter.get("events", params={"limit": 3}).json()
    assert [e["id"] for e in page["events"]] == own[:3]  # full pages, not pages with holes
    assert [e["id"] for e in _all(as_reporter, limit=4)] == own


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"after": -1}, {"after": "x"}, {"limit": "many"}]
)
def test_invalid_query(as_reporter: Api, params: dict[str, Any]) -> None:
    assert_problem(as_reporter.get("events", params=params), 422)


def test_sign_in_required(api: Api) -> None:
    assert_problem(api.get("events"), 401)
