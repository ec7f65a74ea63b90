"""Labels: ADMIN-managed, put on issues by staff, filters and counts scoped to what the caller sees."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.collaboration.helpers import event_types, label
from tests.issues.helpers import bulk_issues, new_issue
from tests.support.api import Api, assert_problem
from tests.support.statements import app_statements


def test_admin_manages_labels_names_unique_regardless_of_case(as_admin: Api) -> None:
    bug = label(as_admin, "Bug", "#D73A4A")
    assert bug["color"] == "#d73a4a" and bug["description"] == ""
    assert_problem(as_admin.post("labels", json={"name": " bug ", "color": "#000000"}), 409, "already exists")
    ui = label(as_admin, "ui")
    assert_problem(as_admin.patch(f"labels/{ui['id']}", json={"name": "BUG"}), 409, "already exists")
    renamed = as_admin.patch(f"labels/{ui['id']}", json={"name": "UI", "description": "Screens"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "UI" and renamed.json()["color"] == "#d73a4a"
    assert [item["name"] for item in as_admin.get("labels").json()] == ["Bug", "UI"]
    assert_problem(as_admin.patch("labels/00000000-0000-0000-0000-000000000000", json={"name": "x"}), 404)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": ""}, "body.name"),
        ({"name": "   "}, "body.name"),
        ({"name": "x" * 51}, "body.name"),
        ({"name": "ok", "color": "red"}, "body.color"),
        ({"name": "ok", "color": "#12345"}, "body.color"),
        ({"name": "ok", "description": "d" * 201}, "body.description"),
        ({"name": "ok", "id": "x"}, "body.id"),
    ],
)
def test_label_validation(as_admin: Api, engine: Engine, body: dict[str, Any], where: str) -> None:
    problem = assert_problem(as_admin.post("labels", json=body), 422)
    assert problem["errors"][0]["loc"] == where
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM labels")).scalar() == 0


def test_only_admins_manage_labels(as_maintainer: Api, as_reporter: Api, as_admin: Api) -> None:
    bug = label(as_admin, "bug")
    for api in (as_maintainer, as_reporter):
        assert_problem(api.post("labels", json={"name": "x"}), 403, "Only admins")
        assert_problem(api.patch(f"labels/{bug['id']}", json={"name": "x"}), 403)
        assert_problem(api.delete(f"labels/{bug['id']}"), 403)
        assert [item["name"] for item in api.get("labels").json()] == ["bug"]


def test_staff_label_issues_and_the_issue_changes(
    as_admin: Api, as_maintainer: Api, as_reporter: Api, as_other_reporter: Api, engine: Engine
) -> None:
    bug, ui = label(as_admin, "bug"), label(as_admin, "UI", "#0000ff")
    issue = new_issue(as_reporter)
    path = f"issues/{issue['id']}/labels"
    assert_problem(as_reporter.put(f"{path}/{bug['id']}"), 403, "maintainers and admins")
    # Refused on the role, before the issue is looked up: the same answer for any issue id.
    assert_problem(as_other_reporter.put(f"{path}/{bug['id']}"), 403)
    stale = f'"{issue["id"]}-1"'

    added = as_maintainer.put(f"{path}/{ui['id']}", headers={"If-Match": stale})
    assert added.status_code == 200, added.text
    assert added.json()["labels"] == [{"id": ui["id"], "name": "UI", "color": "#0000ff"}]
    assert added.json()["version"] == 2 and added.headers["ETag"].startswith(f'"{issue["id"]}-2-')
    # The same tag as a GET of the issue (one rendering for every answer that is the issue).
    assert added.headers["ETag"] == as_maintainer.get(f"issues/{issue['id']}").headers["ETag"]
    assert_problem(as_maintainer.put(f"{path}/{bug['id']}", headers={"If-Match": stale}), 412)
    both = as_admin.put(f"{path}/{bug['id']}").json()
    assert [x["name"] for x in both["labels"]] == ["bug", "UI"]  # by name, any case
    again = as_admin.put(f"{path}/{bug['id']}").json()  # idempotent: nothing written
    assert again["version"] == both["version"] == 3
    # The owner sees the labels on their issue.
    assert [x["name"] for x in as_reporter.get(f"issues/{issue['id']}").json()["labels"]] == ["bug", "UI"]

    removed = as_maintainer.delete(f"{path}/{ui['id']}")
    assert removed.status_code == 200 and [x["name"] for x in removed.json()["labels"]] == ["bug"]
    assert as_maintainer.delete(f"{path}/{ui['id']}").json()["version"] == 4
    assert_problem(as_maintainer.put(f"{path}/00000000-0000-0000-0000-000000000000"), 404, "Label not found")
    assert event_types(engine, issue["id"]) == [
        "issue_created",
        "issue_labeled",
        "issue_labeled",
        "issue_unlabeled",
    ]
    history = as_reporter.get(f"issues/{issue['id']}/history").json()
    assert history[1]["changes"] == {"labels": [None, "UI"]}


def test_deleting_a_label_takes_it_off_every_issue_at_once(
    as_admin: Api, as_reporter: Api, engine: Engine
) -> None:
    bug, keep = label(as_admin, "bug"), label(as_admin, "keep")
    issues = [new_issue(as_reporter, title=f"I{i}") for i in range(3)]
    for issue in issues[:2]:
        as_admin.put(f"issues/{issue['id']}/labels/{bug['id']}")
    as_admin.put(f"issues/{issues[0]['id']}/labels/{keep['id']}")

    response = as_admin.delete(f"labels/{bug['id']}")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": bug["id"], "deleted": True, "issues_updated": 2, "message": "The label was deleted and taken off 2 issues."
    }  # fmt: skip
    assert [x["name"] for x in as_admin.get(f"issues/{issues[0]['id']}").json()["labels"]] == ["keep"]
    assert as_admin.get(f"issues/{issues[1]['id']}").json()["labels"] == []
    assert event_types(engine, issues[1]["id"])[-1] == "issue_unlabeled"
    assert event_types(engine, issues[2]["id"]) == ["issue_created"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM issue_labels")).scalar() == 1
    assert_problem(as_admin.delete(f"labels/{bug['id']}"), 404)


def test_label_filter_all_must_match_and_counts_are_scoped(
    as_admin: Api, as_maintainer: Api, as_reporter: Api, as_other_reporter: Api, reporter: Any
) -> None:
    bug, ui, unused = label(as_admin, "bug"), label(as_admin, "ui"), label(as_admin, "unused")
    mine_both = new_issue(as_reporter, title="mine both")
    mine_bug = new_issue(as_reporter, title="mine bug")
    theirs = new_issue(as_other_reporter, title="theirs both")
    for issue, labels in ((mine_both, (bug, ui)), (mine_bug, (bug,)), (theirs, (bug, ui))):
        for lab in labels:
            assert as_maintainer.put(f"issues/{issue['id']}/labels/{lab['id']}").status_code == 200
    as_maintainer.patch(f"issues/{mine_bug['id']}", json={"status": "TRIAGED"})
    as_maintainer.patch(f"issues/{mine_bug['id']}", json={"status": "IN_PROGRESS"})
    as_maintainer.patch(f"issues/{mine_bug['id']}", json={"status": "DONE"})

    def titles(api: Api, *labels: str) -> set[str]:
        response = api.get("issues", params=[("label", name) for name in labels])
        assert response.status_code == 200, response.text
        assert int(response.headers["X-Total-Count"]) == len(response.json())
        return {i["title"] for i in response.json()}

    assert titles(as_maintainer, "bug") == {"mine both", "mine bug", "theirs both"}
    assert titles(as_maintainer, "BUG", "ui") == {"mine both", "theirs both"}
    assert titles(as_maintainer, bug["id"], "ui") == {"mine both", "theirs both"}
    assert titles(as_maintainer, "bug", "unused") == set()
    assert titles(as_maintainer, "no-such-label") == set()
    assert titles(as_reporter, "bug", "ui") == {"mine both"}  # never another reporter's issue
    assert titles(as_other_reporter, "bug") == {"theirs both"}

    def counts(api: Api) -> dict[str, tuple[int, int]]:
        body = api.get("issues/stats/by-label").json()["issues_by_label"]
        return {row["name"]: (row["issues"], row["open_issues"]) for row in body}

    assert counts(as_maintainer) == {"bug": (3, 2), "ui": (2, 2), "unused": (0, 0)}
    assert counts(as_reporter) == {"bug": (2, 1), "ui": (1, 1), "unused": (0, 0)}
    assert counts(as_other_reporter) == {"bug": (1, 1), "ui": (1, 1), "unused": (0, 0)}
    assert unused["name"] == "unused"
    assert reporter.id is not None


def test_deleting_a_label_costs_the_same_statements_for_few_or_many_issues(  # noqa: PLR0917 (pytest fixtures)
    as_admin: Api, admin: Any, maintainer: Any, reporter: Any, other_reporter: Any, engine: Engine
) -> None:
    """Each carrier gets a new version and one issue_unlabeled event that notifies its watchers,
    in a fixed number of statements (not a few per issue)."""
    bulk_issues(engine, reporter.id, 43, every_nth_owner=(4, other_reporter.id))
    few, many = label(as_admin, "few"), label(as_admin, "many")
    with engine.begin() as conn:
        ids = [str(i) for i in conn.execute(text("SELECT id FROM issues ORDER BY created_at")).scalars()]
        conn.execute(
            text("INSERT INTO issue_labels SELECT CAST(i AS uuid), :l FROM unnest(CAST(:ids AS text[])) i"),
            {"ids": ids[:3], "l": few["id"]},
        )
        conn.execute(
            text("INSERT INTO issue_labels SELECT CAST(i AS uuid), :l FROM unnest(CAST(:ids AS text[])) i"),
            {"ids": ids[3:], "l": many["id"]},
        )
        # Watchers: each issue's creator, the maintainer, and the deleting admin (never notified).
        conn.execute(
            text(
                "INSERT INTO watchers (issue_id, user_id) SELECT id, created_by FROM issues "
                "UNION SELECT id, CAST(:m AS uuid) FROM issues UNION SELECT id, CAST(:a AS uuid) FROM issues"
            ),
            {"m": maintainer.id, "a": admin.id},
        )
    counted = []
    with app_statements() as statements:
        for lab, carriers in ((few, 3), (many, 40)):
            statements.clear()
            response = as_admin.delete(f"labels/{lab['id']}")
            assert response.status_code == 200, response.text
            assert response.json()["issues_updated"] == carriers
            counted.append(len(statements))
    assert counted[0] == counted[1], counted

    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM issue_labels")).scalar() == 0
        assert set(conn.execute(text("SELECT version FROM issues")).scalars()) == {2}
        assert set(conn.execute(text("SELECT updated_by FROM issues")).scalars()) == {admin.id}
        events = conn.execute(
            text(
                "SELECT issue_id, actor_id, audience_owner_id, payload FROM events "
                "WHERE type = 'issue_unlabeled' ORDER BY id"
            )
        ).all()
        owners = dict(conn.execute(text("SELECT id, created_by FROM issues")).all())
        notified = conn.execute(
            text(
                "SELECT e.issue_id, n.user_id FROM notifications n JOIN events e ON e.id = n.event_id "
                "ORDER BY 1, 2"
            )
        ).all()
    assert sorted(str(e.issue_id) for e in events) == sorted(ids)  # one event per issue
    for e in events:
        assert e.actor_id == admin.id and e.audience_owner_id == owners[e.issue_id]
        assert e.payload["issue"]["created_by"] == str(owners[e.issue_id])
        assert e.payload["changes"] == {"labels": [e.payload["label"]["name"], None]}
        assert e.payload["label"]["deleted"] is True
    # Every issue's creator and the maintainer; never the actor.
    assert sorted(notified) == sorted(
        [(uuid.UUID(i), owners[uuid.UUID(i)]) for i in ids] + [(uuid.UUID(i), maintainer.id) for i in ids]
    )
