"""Every notification says why it was sent: in GET /notifications and in the live message."""

from __future__ import annotations

from typing import Any

from tests.collaboration.helpers import comment
from tests.issues.helpers import new_issue
from tests.support.api import Api
from trackly.local.webpubsub import LocalWebPubSub
from trackly.realtime.groups import user_group


def _reasons(api: Api) -> list[tuple[str, str]]:
    return [(n["event"]["type"], n["reason"]) for n in api.get("notifications").json()["items"]]


def test_reason_of_each_kind_of_change(
    as_reporter: Api, as_maintainer: Api, as_admin: Api, maintainer: Any, admin: Any
) -> None:
    issue = new_issue(as_reporter)
    assert as_admin.put(f"issues/{issue['id']}/watch").status_code == 200
    assert (
        as_reporter.patch(f"issues/{issue['id']}", json={"title": "Printer still on fire"}).status_code == 200
    )
    comment(as_maintainer, issue["id"], f"@{admin.email} can you look?")
    assert (
        as_admin.patch(f"issues/{issue['id']}", json={"assignee_id": str(maintainer.id)}).status_code == 200
    )
    assert as_admin.patch(f"issues/{issue['id']}", json={"status": "IN_PROGRESS"}).status_code == 200

    assert _reasons(as_reporter) == [
        ("issue_status_changed", "status_changed"),
        ("issue_assigned", "watching"),
        ("comment_added", "commented"),
    ]
    # Mentioned beats commented; assigned beats watching, for the one it names.
    assert _reasons(as_admin) == [("comment_added", "mentioned"), ("issue_updated", "watching")]
    assert _reasons(as_maintainer) == [
        ("issue_status_changed", "status_changed"),
        ("issue_assigned", "assigned"),
    ]


def test_live_message_to_a_watcher_carries_the_reason(
    webpubsub: LocalWebPubSub, as_reporter: Api, as_maintainer: Api, reporter: Any
) -> None:
    issue = new_issue(as_reporter)
    comment(as_maintainer, issue["id"], "On it")
    mine = webpubsub.group_messages(user_group(reporter.id))
    assert [(m["type"], m.get("reason")) for m in mine][-1] == ("comment_added", "commented")
    assert all("reason" not in m for m in webpubsub.group_messages("staff"))
