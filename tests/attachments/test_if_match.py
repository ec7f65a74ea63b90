"""Deleting an attachment is a write to the issue (which lists its attachments): If-Match takes
the issue's ETag, a stale one answers 412, and REQUIRE_IF_MATCH makes it mandatory (428)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.attachments.conftest import upload_file
from tests.support.api import Api, assert_problem


def _attachments(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM attachments")).scalar_one())


def test_attachment_delete_honours_and_can_require_if_match(  # noqa: PLR0917 (fixtures)
    as_reporter: Api, reporter: Any, issue_of: Any, container: Any, engine: Engine, settings_env: Any
) -> None:
    issue_id = issue_of(reporter)
    first = upload_file(as_reporter, issue_id)
    second = upload_file(as_reporter, issue_id, filename="two.png")
    url = f"issues/{issue_id}/attachments/{first['id']}"
    etag = as_reporter.get(f"issues/{issue_id}").headers["ETag"]

    settings_env(REQUIRE_IF_MATCH="true")
    assert_problem(as_reporter.delete(url), 428, "If-Match")
    assert _attachments(engine) == 2
    assert as_reporter.delete(url, headers={"If-Match": etag}).status_code == 200
    assert _attachments(engine) == 1
    # That delete made a new version of the issue: the same tag is now stale.
    other = f"issues/{issue_id}/attachments/{second['id']}"
    stale = as_reporter.delete(other, headers={"If-Match": etag})
    assert_problem(stale, 412)
    assert _attachments(engine) == 1
    fresh = as_reporter.get(f"issues/{issue_id}").headers["ETag"]
    assert as_reporter.delete(other, headers={"If-Match": fresh}).status_code == 200
    assert _attachments(engine) == 0
