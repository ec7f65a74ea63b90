"""Assignees: at most one, an active MAINTAINER or ADMIN, set by staff through PATCH/PUT."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from tests.collaboration.helpers import event_types, watcher_ids
from tests.issues.helpers import new_issue
from tests.support.api import Api, assert_problem


def test_staff_assign_and_the_issue_shows_it(  # noqa: PLR0917 (fixtures)
    as_maintainer: Api, as_admin: Api, as_reporter: Api, maintainer: Any, admin: Any, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    assert issue["assignee_id"] is None and issue["assignee_name"] is None
    response = as_maintainer.patch(f"issues/{issue['id']}", json={"assignee_id": str(maintainer.id)})
    assert response.status_code == 200, response.text
    assert response.json()["assignee_id"] == str(maintainer.id)
    assert response.json()["assignee_name"] == "Mark Maintainer"
    assert response.json()["version"] == 2
    assert as_reporter.get(f"issues/{issue['id']}").json()["assignee_name"] == "Mark Maintainer"
    # PUT (the original client's verb) takes it too; admin reassigns.
    put = as_admin.put(f"issues/{issue['id']}", json={"assignee_id": str(admin.id), "severity": "HIGH"})
    assert put.status_code == 200 and put.json()["assignee_name"] == "Alice Admin"
    unassigned = as_admin.patch(f"issues/{issue['id']}", json={"assignee_id": None})
    assert unassigned.json()["assignee_id"] is None and unassigned.json()["assignee_name"] is None
    assert event_types(engine, issue["id"]) == [
        "issue_created",
        "issue_assigned",
        "issue_updated",
        "issue_assigned",
    ]
    history = as_reporter.get(f"issues/{issue['id']}/history").json()
    assert history[1]["changes"] == {"assignee_id": [None, str(maintainer.id)]}
    assert history[2]["changes"]["assignee_id"] == [str(maintainer.id), str(admin.id)]
    # Assignees start watching (and stay watchers when unassigned).
    assert {maintainer.id, admin.id} <= watcher_ids(engine, issue["id"])


def test_who_can_be_assigned_and_who_can_assign(  # noqa: PLR0917 (fixtures)
    as_maintainer: Api, as_reporter: Api, reporter: Any, maintainer: Any, users: Any, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    path = f"issues/{issue['id']}"
    gone = users("MAINTAINER", full_name="Gone Maintainer", is_active=False)
    cases = [
        (str(reporter.id), "Only a maintainer or an admin"),
        (str(gone.id), "deactivated"),
        ("00000000-0000-0000-0000-000000000000", "no user"),
    ]
    for assignee, detail in cases:
        problem = assert_problem(as_maintainer.patch(path, json={"assignee_id": assignee}), 422, detail)
        assert problem["errors"][0]["loc"] == "body.assignee_id"
    assert_problem(as_maintainer.patch(path, json={"assignee_id": "not-a-uuid"}), 422)
    # A reporter can neither assign nor unassign, even on their own issue.
    assert_problem(as_reporter.patch(path, json={"assignee_id": str(maintainer.id)}), 403, "assign")
    as_maintainer.patch(path, json={"assignee_id": str(maintainer.id)})
    assert_problem(as_reporter.patch(path, json={"assignee_id": None}), 403)
    # Sending the current assignee is not a change.
    same = as_reporter.patch(path, json={"assignee_id": str(maintainer.id), "title": "Renamed"})
    assert same.status_code == 200 and same.json()["title"] == "Renamed"
    assert event_types(engine, issue["id"]) == ["issue_created", "issue_assigned", "issue_updated"]


def test_assignee_filters(  # noqa: PLR0917 (fixtures)
    as_maintainer: Api, as_admin: Api, as_reporter: Api, as_other_reporter: Api, maintainer: Any, admin: Any
) -> None:
    mine = new_issue(as_reporter, title="to maintainer")
    to_admin = new_issue(as_reporter, title="to admin")
    nobody = new_issue(as_reporter, title="nobody")
    theirs = new_issue(as_other_reporter, title="theirs to maintainer")
    for issue, user in ((mine, maintainer), (to_admin, admin), (theirs, maintainer)):
        as_admin.patch(f"issues/{issue['id']}", json={"assignee_id": str(user.id)})

    def titles(api: Api, assignee: str) -> set[str]:
        response = api.get("issues", params={"assignee": assignee})
        assert response.status_code == 200, response.text
        assert int(response.headers["X-Total-Count"]) == len(response.json())
        return {i["title"] for i in response.json()}

    assert titles(as_maintainer, "me") == {"to maintainer", "theirs to maintainer"}
    assert titles(as_admin, "me") == {"to admin"}
    assert titles(as_admin, str(maintainer.id)) == {"to maintainer", "theirs to maintainer"}
    assert titles(as_admin, "none") == {"nobody"}
    assert titles(as_reporter, str(maintainer.id)) == {"to maintainer"}  # scoped to their own
    assert titles(as_reporter, "me") == set()
    assert_problem(as_admin.get("issues", params={"assignee": "someone"}), 422)
    assert nobody["assignee_id"] is None
