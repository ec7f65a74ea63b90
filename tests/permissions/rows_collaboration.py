"""Permission rows for comments, labels, watchers and notifications.

The target issue belongs to the `reporter` fixture ("reporter_owner"), so `reporter_other` proves
a REPORTER never sees or touches comments, labels or watchers of another reporter's issue.
"""

from __future__ import annotations

import uuid

from tests.permissions.framework import Ctx, Prepared, Row, expect

SIGNED_IN = expect(anonymous=401, reporter=200, maintainer=200, admin=200)
OWNER_OR_STAFF = expect(anonymous=401, reporter_owner=200, reporter_other=404, maintainer=200, admin=200)
ADMIN_ONLY = expect(anonymous=401, reporter=403, maintainer=403, admin=200)
STAFF_ONLY = expect(anonymous=401, reporter=403, maintainer=200, admin=200)
MISSING = expect(anonymous=401, reporter=404, maintainer=404, admin=404)


def _issue(ctx: Ctx) -> str:
    response = ctx.api_as(ctx.reporter).post("issues", json={"title": "Target", "description": "D"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _label(ctx: Ctx) -> str:
    name = f"bug-{uuid.uuid4().hex[:8]}"
    response = ctx.api_as(ctx.admin).post("labels", json={"name": name, "color": "#d73a4a"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _with_issue(ctx: Ctx) -> Prepared:
    return Prepared(path={"issue_id": _issue(ctx)})


def _with_label(ctx: Ctx) -> Prepared:
    return Prepared(path={"label_id": _label(ctx)})


def _issue_and_label(ctx: Ctx) -> Prepared:
    return Prepared(path={"issue_id": _issue(ctx), "label_id": _label(ctx)})


def _comment_by(author: str) -> object:
    def setup(ctx: Ctx) -> Prepared:
        issue_id = _issue(ctx)
        user = {"owner": ctx.reporter, "maintainer": ctx.maintainer}[author]
        response = ctx.api_as(user).post(f"issues/{issue_id}/comments", json={"body": "A comment"})
        assert response.status_code == 201, response.text
        return Prepared(path={"issue_id": issue_id, "comment_id": response.json()["id"]})

    return setup


ROWS = [
    # labels
    Row("list_labels", SIGNED_IN, setup=_with_label),
    Row(
        "create_label",
        expect(anonymous=401, reporter=403, maintainer=403, admin=201),
        setup=lambda ctx: Prepared(json={"name": f"ui-{uuid.uuid4().hex[:8]}", "color": "#0000ff"}),
    ),
    Row("update_label", ADMIN_ONLY, setup=_with_label, json={"description": "Broken things"}),
    Row(
        "update_label",
        expect(anonymous=401, reporter=403, maintainer=403, admin=404),
        json={"name": "x"},
        variant="missing",
    ),
    Row("delete_label", ADMIN_ONLY, setup=_with_label),
    Row("delete_label", expect(anonymous=401, reporter=403, maintainer=403, admin=404), variant="missing"),
    Row("add_issue_label", STAFF_ONLY, setup=_issue_and_label),
    Row("add_issue_label", expect(anonymous=401, reporter=403, maintainer=404, admin=404), variant="missing"),
    Row("remove_issue_label", STAFF_ONLY, setup=_issue_and_label),
    Row("issue_stats_by_label", SIGNED_IN, setup=_with_label),
    # comments
    Row("list_comments", OWNER_OR_STAFF, setup=_comment_by("maintainer")),
    Row("list_comments", MISSING, variant="missing"),
    Row(
        "create_comment",
        expect(anonymous=401, reporter_owner=201, reporter_other=404, maintainer=201, admin=201),
        setup=_with_issue,
        json={"body": "Me too"},
    ),
    Row("create_comment", MISSING, json={"body": "x"}, variant="missing"),
    Row("get_comment", OWNER_OR_STAFF, setup=_comment_by("maintainer")),
    Row("get_comment", MISSING, variant="missing"),
    # Only the author edits: here the owner wrote it.
    Row(
        "update_comment",
        expect(anonymous=401, reporter_owner=200, reporter_other=404, maintainer=403, admin=403),
        setup=_comment_by("owner"),
        json={"body": "Edited"},
    ),
    Row(
        "update_comment",
        expect(anonymous=401, reporter_owner=403, reporter_other=404, maintainer=200, admin=403),
        setup=_comment_by("maintainer"),
        json={"body": "Edited"},
        variant="staff-author",
    ),
    # The author or staff (moderation) delete.
    Row("delete_comment", OWNER_OR_STAFF, setup=_comment_by("owner")),
    Row(
        "delete_comment",
        expect(anonymous=401, reporter_owner=403, reporter_other=404, maintainer=200, admin=200),
        setup=_comment_by("maintainer"),
        variant="moderation",
    ),
    Row("delete_comment", MISSING, variant="missing"),
    # watching
    Row("watch_issue", OWNER_OR_STAFF, setup=_with_issue),
    Row("watch_issue", MISSING, variant="missing"),
    Row("unwatch_issue", OWNER_OR_STAFF, setup=_with_issue),
    Row("list_watchers", OWNER_OR_STAFF, setup=_with_issue),
    # notifications: always the caller's own
    Row("list_notifications", SIGNED_IN),
    Row("mark_notifications_read", SIGNED_IN, json={"up_to": 1}),
]
