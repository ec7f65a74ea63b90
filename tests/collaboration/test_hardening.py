"""Weak spots of collaboration found by the adversarial re-test (issue 23, item 8): invisible and
control characters in label names and comment bodies, and REQUIRE_IF_MATCH on comment writes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.collaboration.helpers import comment, label
from tests.support.api import Api, assert_problem

INVISIBLE = ["a\u0007b", "\u001b[31mred", "\u200b\u200b", "\u200d", "x\u202eevil", "x\u007f"]


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608 (fixed names)


@pytest.mark.parametrize("name", INVISIBLE)
def test_label_names_need_visible_characters_and_no_controls(
    as_admin: Api, engine: Engine, name: str
) -> None:
    assert_problem(as_admin.post("labels", json={"name": name}), 422, "label name")
    existing = label(as_admin, "bug")
    assert_problem(as_admin.patch(f"labels/{existing['id']}", json={"name": name}), 422, "label name")
    assert _count(engine, "labels") == 1
    assert as_admin.get("labels").json()[0]["name"] == "bug"


@pytest.mark.parametrize("body", INVISIBLE)
def test_comment_bodies_need_visible_characters_and_no_controls(
    as_reporter: Api, engine: Engine, body: str
) -> None:
    issue = as_reporter.post("issues", {"title": "Printer on fire"}).json()
    assert_problem(as_reporter.post(f"issues/{issue['id']}/comments", json={"body": body}), 422, "comment")
    kept = comment(as_reporter, issue["id"], "first line\n\n\tindented line")  # Markdown keeps these
    assert kept["body"] == "first line\n\n\tindented line"
    edit = as_reporter.patch(f"issues/{issue['id']}/comments/{kept['id']}", json={"body": body})
    assert_problem(edit, 422, "comment")
    assert _count(engine, "comments") == 1


def test_titles_follow_the_same_rule(as_reporter: Api, engine: Engine) -> None:
    for title in ("a\u0007b", "\u200b"):
        assert_problem(as_reporter.post("issues", {"title": title}), 422, "title")
    assert _count(engine, "issues") == 0


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_required_if_match_covers_comment_edits_and_deletes(
    as_reporter: Api, engine: Engine, settings_env: Any, method: str
) -> None:
    issue = as_reporter.post("issues", {"title": "Printer on fire"}).json()
    made = as_reporter.post(f"issues/{issue['id']}/comments", json={"body": "Seen it."})
    etag = made.headers["ETag"]
    url = f"issues/{issue['id']}/comments/{made.json()['id']}"
    body = {"body": "Seen it twice."} if method == "PATCH" else None
    settings_env(REQUIRE_IF_MATCH="true")
    assert_problem(as_reporter.request(method, url, json=body), 428, "If-Match")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT body FROM comments")).scalar_one() == "Seen it."
    assert as_reporter.request(method, url, json=body, headers={"If-Match": etag}).status_code == 200
    settings_env(REQUIRE_IF_MATCH="false")
    if method == "PATCH":  # without the setting, no header is still fine
        assert as_reporter.patch(url, json={"body": "Seen it thrice."}).status_code == 200
