"""UTC offsets of 16 hours or more (RFC 3339 allows up to +/-23:59; PostgreSQL refuses them)
are converted to UTC at the edge, in the list filters and in a keyset cursor (issue 16, item 2)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.issues.helpers import bulk_issues
from tests.support.api import Api, assert_problem

START = datetime(2025, 3, 1, tzinfo=UTC)  # bulk rows are created START + 1 s, + 2 s, ...


@pytest.mark.parametrize("field", ["created_after", "created_before", "updated_since"])
@pytest.mark.parametrize("offset", ["-16:00", "+16:00", "+23:59", "-23:59"])
def test_large_offsets_in_filters_mean_the_same_instant(
    as_maintainer: Api, maintainer: Any, engine: Engine, field: str, offset: str
) -> None:
    bulk_issues(engine, maintainer.id, 10, start=START)
    sign = 1 if offset[0] == "+" else -1
    hours, minutes = (int(p) for p in offset[1:].split(":"))
    # START + 5 s, written in the local time of `offset`.
    local = datetime.fromtimestamp(START.timestamp() + 5 + sign * (hours * 3600 + minutes * 60), UTC)
    value = local.strftime("%Y-%m-%dT%H:%M:%S") + offset
    utc_value = "2025-03-01T00:00:05+00:00"
    resp = as_maintainer.get("issues", params={field: value, "limit": 100})
    assert resp.status_code == 200, resp.text
    same = as_maintainer.get("issues", params={field: utc_value, "limit": 100})
    assert [i["id"] for i in resp.json()] == [i["id"] for i in same.json()]
    assert resp.headers["X-Total-Count"] == same.headers["X-Total-Count"]
    assert int(resp.headers["X-Total-Count"]) in (4, 6)  # rows 1-4 are before, 5-10 at or after


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"])
def test_offsets_that_leave_the_calendar_in_utc_are_422(as_maintainer: Api, value: str) -> None:
    assert_problem(as_maintainer.get("issues", params={"created_after": value}), 422, "created_after")


def _cursor(sort: str, keys: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": sort, "k": keys}).encode()).decode().rstrip("=")


def test_forged_cursor_with_a_large_offset_is_not_a_500(
    as_maintainer: Api, maintainer: Any, engine: Engine
) -> None:
    bulk_issues(engine, maintainer.id, 6, start=START)
    zero = "00000000-0000-0000-0000-000000000000"
    resp = as_maintainer.get(
        "issues", params={"cursor": _cursor("-created_at", ["2025-02-28T08:00:04-16:00", zero])}
    )
    assert resp.status_code == 200, resp.text
    assert [i["title"] for i in resp.json()] == ["Bulk issue 3", "Bulk issue 2", "Bulk issue 1"]
    overflow = _cursor("-created_at", ["0001-01-01T00:00:00+23:59", zero])
    assert_problem(as_maintainer.get("issues", params={"cursor": overflow}), 400, "cursor")
