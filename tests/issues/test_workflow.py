"""The status workflow: the table itself, and every (from, to) pair per role over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.issues.helpers import new_issue
from tests.support.api import Api
from trackly.issues import workflow
from trackly.models import Status

# The table from the issue text, spelled out independently of the code.
EXPECTED = {
    "OPEN": {"TRIAGED", "DONE"},
    "TRIAGED": {"IN_PROGRESS", "OPEN", "DONE"},
    "IN_PROGRESS": {"DONE", "TRIAGED"},
    "DONE": {"OPEN"},
}
PAIRS = [(a, b) for a in Status for b in Status]


def test_transition_table_is_the_specified_one() -> None:
    assert {k.value: {t.value for t in v} for k, v in workflow.TRANSITIONS.items()} == EXPECTED
    assert workflow.INITIAL_STATUS is Status.OPEN
    for source in Status:
        assert workflow.can_move(source, source)  # same status is a no-op, never an error


def test_markdown_table_lists_every_status() -> None:
    table = workflow.markdown_table()
    for source, targets in EXPECTED.items():
        assert any(
            line.startswith(f"| {source} |") and all(t in line for t in targets)
            for line in table.splitlines()
        )


def _set_status(engine: Engine, issue_id: str, status: Status) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE issues SET status = :s WHERE id = :i"), {"s": status.value, "i": issue_id})


@pytest.mark.parametrize("role", ["ADMIN", "MAINTAINER", "REPORTER"])
def test_every_pair_per_role(role: str, api: Api, users: Any, engine: Engine) -> None:
    owner = users("REPORTER")
    actor = owner if role == "REPORTER" else users(role)
    as_owner, as_actor = api.as_(users.token(owner)), api.as_(users.token(actor))
    outcomes: dict[tuple[str, str], int] = {}
    for source, target in PAIRS:
        issue = new_issue(as_owner)
        _set_status(engine, issue["id"], source)
        response = as_actor.patch(f"issues/{issue['id']}", json={"status": target.value})
        outcomes[(source.value, target.value)] = response.status_code
        after = as_owner.get(f"issues/{issue['id']}").json()["status"]
        if response.status_code == 200:
            assert after == target.value
        else:
            assert after == source.value
            assert response.headers["Content-Type"].startswith("application/problem+json")
        if response.status_code == 409:
            assert response.json()["allowed"] == [s.value for s in workflow.TRANSITIONS[source]]

    for (source, target), status in outcomes.items():
        if source == target:
            wanted = 200  # a no-op, for everyone who can see the issue
        elif role == "REPORTER":
            wanted = 403  # reporters never change the status
        else:
            wanted = 200 if target in EXPECTED[source] else 409
        assert status == wanted, (role, source, target, status)


def test_reopen_and_full_cycle(as_maintainer: Api) -> None:
    issue = new_issue(as_maintainer)
    url = f"issues/{issue['id']}"
    for status in ("TRIAGED", "IN_PROGRESS", "TRIAGED", "IN_PROGRESS", "DONE", "OPEN", "DONE"):
        response = as_maintainer.patch(url, json={"status": status})
        assert response.status_code == 200, (status, response.text)
    assert as_maintainer.get(url).json()["version"] == 8


def test_readme_section_shows_the_table_from_the_code() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "readme" / "issues.md").read_text()
    start = doc.index("<!-- workflow-table -->\n") + len("<!-- workflow-table -->\n")
    end = doc.index("<!-- /workflow-table -->")
    assert doc[start:end].strip() == workflow.markdown_table()


def test_openapi_describes_the_workflow() -> None:
    import function_app  # noqa: F401 (registers the endpoints)
    from trackly.http.endpoint import REGISTRY

    for name in ("update_issue", "replace_issue"):
        assert workflow.markdown_table() in (REGISTRY[name].description or "")
