"""JSON bodies are not coerced across JSON types; query strings stay text (issue 16, item 8)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, assert_problem


@pytest.mark.parametrize("value", ["true", "1", 0, 1, "false"])
def test_a_boolean_field_takes_only_true_or_false(as_admin: Api, users: Any, value: Any) -> None:
    target = users("REPORTER")
    resp = as_admin.patch(f"users/{target.id}", {"is_active": value})
    problem = assert_problem(resp, 422)
    assert any(e["loc"] == "body.is_active" for e in problem["errors"]), problem
    assert as_admin.get(f"users/{target.id}").json()["is_active"] is True  # nothing changed


@pytest.mark.parametrize("value", [0, 1700000000, True])
def test_a_date_field_in_a_body_takes_only_a_string(as_admin: Api, value: Any) -> None:
    resp = as_admin.post("stats/aggregate", {"from": value, "to": "2026-01-02"})
    problem = assert_problem(resp, 422)
    assert any(e["loc"] == "body.from" for e in problem["errors"]), problem


def test_query_strings_stay_text_but_dates_must_look_like_dates(as_admin: Api) -> None:
    assert as_admin.get("issues", params={"limit": "5"}).status_code == 200
    assert as_admin.get("stats/daily", params={"from": "2026-01-01", "to": "2026-01-02"}).status_code == 200
    problem = assert_problem(as_admin.get("stats/daily", params={"to": "0"}), 422)
    assert problem["errors"][0]["loc"] == "query.to"
    problem = assert_problem(as_admin.get("issues", params={"created_after": "1700000000"}), 422)
    assert problem["errors"][0]["loc"] == "query.created_after"
