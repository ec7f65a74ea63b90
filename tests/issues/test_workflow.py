"""The status workflow: both presets (free, the default, and guided), every (from, to) pair per
role over HTTP, and `allowed_transitions` in every issue answer for the caller."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.issues.helpers import new_issue
from tests.support.api import Api
from trackly.issues import workflow
from trackly.models import Status

# The tables from the issue text, spelled out independently of the code.
ALL = {"OPEN", "TRIAGED", "IN_PROGRESS", "DONE"}
EXPECTED = {
    "free": {s: ALL - {s} for s in ALL},
    "guided": {
        "OPEN": {"TRIAGED", "IN_PROGRESS", "DONE"},
        "TRIAGED": {"IN_PROGRESS", "OPEN", "DONE"},
        "IN_PROGRESS": {"DONE", "TRIAGED"},
        "DONE": {"OPEN"},
    },
}
PAIRS = [(a, b) for a in Status for b in Status]


@pytest.mark.parametrize("preset", ["free", "guided"])
def test_transition_tables_are_the_specified_ones(preset: Any) -> None:
    table = workflow.PRESETS[preset]
    assert {k.value: {t.value for t in v} for k, v in table.items()} == EXPECTED[preset]
    assert workflow.INITIAL_STATUS is Status.OPEN
    for source in Status:
        assert workflow.can_move(source, source, preset)  # same status is a no-op, never an error


def test_the_default_preset_is_free(settings_env: Any) -> None:
    from trackly.config import get_settings

    settings_env(ISSUE_WORKFLOW=None)
    assert get_settings().ISSUE_WORKFLOW == "free" == workflow.DEFAULT_PRESET
    assert workflow.active_preset() == "free"


def test_an_unknown_preset_is_a_configuration_error(api: Api, settings_env: Any, users: Any) -> None:
    as_admin = api.as_(users.token(users("ADMIN")))
    settings_env(ISSUE_WORKFLOW="strict-ish")
    response = as_admin.get("issues")
    assert response.status_code == 503


def test_markdown_tables_list_every_status() -> None:
    for preset, expected in EXPECTED.items():
        table = workflow.markdown_table(preset)  # type: ignore[arg-type]
        for source, targets in expected.items():
            assert any(
                line.startswith(f"| {source} |")
                and {t.strip() for t in line.split("|")[2].split(",")} == targets
                for line in table.splitlines()
            ), (preset, source)


def _set_status(engine: Engine, issue_id: str, status: Status) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE issues SET status = :s WHERE id = :i"), {"s": status.value, "i": issue_id})


@pytest.mark.parametrize("preset", ["free", "guided"])
@pytest.mark.parametrize("role", ["ADMIN", "MAINTAINER", "REPORTER"])
def test_every_pair_per_role(  # noqa: PLR0917 (pytest fixtures)
    preset: str, role: str, api: Api, users: Any, engine: Engine, settings_env: Any
) -> None:
    settings_env(ISSUE_WORKFLOW=preset)
    owner = users("REPORTER")
    actor = owner if role == "REPORTER" else users(role)
    as_owner, as_actor = api.as_(users.token(owner)), api.as_(users.token(actor))
    outcomes: dict[tuple[str, str], int] = {}
    for source, target in PAIRS:
        issue = new_issue(as_owner)
        _set_status(engine, issue["id"], source)
        offered = as_actor.get(f"issues/{issue['id']}").json()["allowed_transitions"]
        # PUT with the client's exact body: every field of the edit form in one request.
        response = as_actor.put(
            f"issues/{issue['id']}",
            json={
                "title": issue["title"],
                "description": issue["description"],
                "severity": issue["severity"],
                "status": target.value,
            },
        )
        outcomes[(source.value, target.value)] = response.status_code
        after = as_owner.get(f"issues/{issue['id']}").json()["status"]
        if response.status_code == 200:
            assert after == target.value
            assert target.value in offered or target == source
        else:
            assert after == source.value
            assert target.value not in offered
            assert response.headers["Content-Type"].startswith("application/problem+json")
        if response.status_code == 409:
            assert set(response.json()["allowed"]) == EXPECTED[preset][source.value]

    for (source, target), status in outcomes.items():
        if source == target:
            wanted = 200  # a no-op, for everyone who can see the issue
        elif role == "REPORTER":
            wanted = 403  # reporters never change the status
        else:
            wanted = 200 if target in EXPECTED[preset][source] else 409
        assert status == wanted, (preset, role, source, target, status)


@pytest.mark.parametrize("preset", ["free", "guided"])
def test_allowed_transitions_are_the_callers_moves_in_every_answer(
    preset: str, api: Api, users: Any, settings_env: Any
) -> None:
    settings_env(ISSUE_WORKFLOW=preset)
    reporter, maintainer, admin = users("REPORTER"), users("MAINTAINER"), users("ADMIN")
    as_reporter, as_maintainer, as_admin = (api.as_(users.token(u)) for u in (reporter, maintainer, admin))
    created = as_reporter.post("issues", json={"title": "Scoped"})
    assert created.status_code == 201
    assert created.json()["allowed_transitions"] == []  # the reporter's own answer
    issue_id = created.json()["id"]
    open_moves = EXPECTED[preset]["OPEN"]
    for client in (as_maintainer, as_admin):
        assert set(client.get(f"issues/{issue_id}").json()["allowed_transitions"]) == open_moves
        listed = client.get("issues").json()
        assert set(listed[0]["allowed_transitions"]) == open_moves
    assert as_reporter.get(f"issues/{issue_id}").json()["allowed_transitions"] == []
    assert as_reporter.get("issues").json()[0]["allowed_transitions"] == []
    # The answer to an update carries the moves from the new status.
    moved = as_maintainer.patch(f"issues/{issue_id}", json={"status": "DONE"}).json()
    assert set(moved["allowed_transitions"]) == EXPECTED[preset]["DONE"]
    # A text edit by the reporter (allowed while OPEN) answers with no status moves.
    other = as_reporter.post("issues", json={"title": "Mine"}).json()
    edited = as_reporter.patch(f"issues/{other['id']}", json={"title": "Mine, renamed"})
    assert edited.status_code == 200 and edited.json()["allowed_transitions"] == []


def test_guided_keeps_the_409_with_allowed(as_maintainer: Api, engine: Engine, settings_env: Any) -> None:
    settings_env(ISSUE_WORKFLOW="guided")
    issue = new_issue(as_maintainer)
    _set_status(engine, issue["id"], Status.DONE)
    response = as_maintainer.put(
        f"issues/{issue['id']}", json={"title": "A new title", "status": "IN_PROGRESS"}
    )
    assert response.status_code == 409
    body = response.json()
    assert body["allowed"] == ["OPEN"] and body["current_status"] == "DONE"
    assert "DONE to IN_PROGRESS" in body["detail"]
    # Nothing of the request was applied.
    assert as_maintainer.get(f"issues/{issue['id']}").json()["title"] == issue["title"]


def test_free_saves_the_whole_edit_form(as_maintainer: Api) -> None:
    """The original client's bug report: OPEN -> IN_PROGRESS with a title edit in one PUT."""
    issue = new_issue(as_maintainer)
    response = as_maintainer.put(
        f"issues/{issue['id']}",
        json={"title": "Renamed", "description": "more", "severity": "HIGH", "status": "IN_PROGRESS"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["status"], body["severity"]) == ("Renamed", "IN_PROGRESS", "HIGH")


def test_reopen_and_full_cycle(as_maintainer: Api, settings_env: Any) -> None:
    settings_env(ISSUE_WORKFLOW="guided")
    issue = new_issue(as_maintainer)
    url = f"issues/{issue['id']}"
    for status in ("TRIAGED", "IN_PROGRESS", "TRIAGED", "IN_PROGRESS", "DONE", "OPEN", "IN_PROGRESS"):
        response = as_maintainer.patch(url, json={"status": status})
        assert response.status_code == 200, (status, response.text)
    assert as_maintainer.get(url).json()["version"] == 8


def test_readme_section_shows_the_tables_from_the_code() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "issues.md").read_text()
    start = doc.index("<!-- workflow-table -->\n") + len("<!-- workflow-table -->\n")
    end = doc.index("<!-- /workflow-table -->")
    assert doc[start:end].strip() == workflow.markdown_presets()


def test_openapi_describes_the_workflow() -> None:
    import function_app  # noqa: F401 (registers the endpoints)
    from trackly.http.endpoint import REGISTRY

    for name in ("update_issue", "replace_issue"):
        assert workflow.markdown_presets() in (REGISTRY[name].description or "")
