"""Watchers and notifications: who watches, who is notified, live delivery to user groups, and a
reporter never getting anything about an issue they may not see."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.collaboration.helpers import comment, event_types, watcher_ids
from tests.issues.helpers import new_issue
from tests.support.api import Api, assert_problem
from trackly.local.webpubsub import LocalWebPubSub
from trackly.realtime.groups import STAFF_GROUP, user_group


def _types(api: Api) -> list[str]:
    return [n["event"]["type"] for n in api.get("notifications").json()["items"]]


def test_creator_commenters_and_watchers(  # noqa: PLR0917 (fixtures)
    as_reporter: Api,
    as_maintainer: Api,
    as_admin: Api,
    reporter: Any,
    maintainer: Any,
    admin: Any,
    engine: Engine,
) -> None:
    issue = new_issue(as_reporter)
    assert watcher_ids(engine, issue["id"]) == {reporter.id}
    watched = as_admin.put(f"issues/{issue['id']}/watch")
    assert watched.status_code == 200 and watched.json() == {"issue_id": issue["id"], "watching": True}
    assert as_admin.put(f"issues/{issue['id']}/watch").status_code == 200  # idempotent
    comment(as_maintainer, issue["id"], "Looking")
    names = [w["full_name"] for w in as_reporter.get(f"issues/{issue['id']}/watchers").json()]
    assert names == ["Rita Reporter", "Alice Admin", "Mark Maintainer"]

    # The reporter (creator) and the admin (watcher) hear of the comment; the maintainer (actor) not.
    assert _types(as_reporter) == ["comment_added"]
    assert _types(as_admin) == ["comment_added"]
    assert _types(as_maintainer) == []
    as_reporter.patch(f"issues/{issue['id']}", json={"title": "Renamed"})
    assert _types(as_maintainer) == ["issue_updated"]
    assert _types(as_admin) == ["issue_updated", "comment_added"]

    unwatched = as_admin.delete(f"issues/{issue['id']}/watch")
    assert unwatched.status_code == 200 and unwatched.json()["watching"] is False
    comment(as_reporter, issue["id"], "Any news?")
    assert _types(as_admin) == ["issue_updated", "comment_added"]  # nothing new
    assert _types(as_maintainer) == ["comment_added", "issue_updated"]
    # Watching is history, not news.
    assert event_types(engine, issue["id"]).count("watcher_added") == 1
    assert "watcher_added" not in _types(as_reporter)
    assert admin.id not in watcher_ids(engine, issue["id"])


def test_notifications_page_unread_count_and_mark_read(as_reporter: Api, as_maintainer: Api) -> None:
    issue = new_issue(as_reporter)
    for i in range(5):
        comment(as_maintainer, issue["id"], f"note {i}")
    page = as_reporter.get("notifications", params={"limit": 2}).json()
    assert page["unread_count"] == 5
    assert [n["event"]["data"]["changes"]["body"][1] for n in page["items"]] == ["note 4", "note 3"]
    assert all(n["read"] is False for n in page["items"])
    older = as_reporter.get("notifications", params={"limit": 2, "before": page["next_before"]}).json()
    assert [n["event"]["data"]["changes"]["body"][1] for n in older["items"]] == ["note 2", "note 1"]

    marked = as_reporter.post("notifications/read", json={"up_to": older["items"][0]["id"]})
    assert marked.status_code == 200 and marked.json() == {"unread_count": 2}
    unread = as_reporter.get("notifications", params={"unread": "true"}).json()
    assert [n["event"]["data"]["changes"]["body"][1] for n in unread["items"]] == ["note 4", "note 3"]
    assert_problem(as_reporter.post("notifications/read", json={"up_to": 0}), 422)
    assert_problem(as_reporter.post("notifications/read", json={}), 422)


def test_mentions_make_watchers_only_of_who_may_see_the_issue(  # noqa: PLR0917 (fixtures)
    as_reporter: Api,
    as_maintainer: Api,
    as_other_reporter: Api,
    users: Any,
    other_reporter: Any,
    engine: Engine,
) -> None:
    colleague = users("MAINTAINER", email="colleague@example.com", full_name="Cole League")
    gone = users("ADMIN", email="gone@example.com", is_active=False)
    issue = new_issue(as_reporter)
    comment(
        as_maintainer,
        issue["id"],
        f"@COLLEAGUE@example.com and @{other_reporter.email} and @gone@example.com, see this; "
        "mail me at x@example.com",
    )
    watchers = watcher_ids(engine, issue["id"])
    assert colleague.id in watchers
    assert other_reporter.id not in watchers and gone.id not in watchers
    colleague_api = as_maintainer.as_(users.token(colleague))
    assert _types(colleague_api) == ["comment_added"]
    # The other reporter got nothing and still cannot see the issue.
    assert as_other_reporter.get("notifications").json() == {
        "items": [],
        "unread_count": 0,
        "next_before": None,
    }
    assert_problem(as_other_reporter.get(f"issues/{issue['id']}/watchers"), 404)
    assert_problem(as_other_reporter.put(f"issues/{issue['id']}/watch"), 404)


def test_a_demoted_watcher_stops_getting_events_of_issues_not_theirs(  # noqa: PLR0917 (fixtures)
    webpubsub: LocalWebPubSub,
    as_reporter: Api,
    as_maintainer: Api,
    as_admin: Api,
    users: Any,
    reporter: Any,
    engine: Engine,
) -> None:
    watcher = users("MAINTAINER", full_name="Will Watcher")
    watcher_api = as_admin.as_(users.token(watcher))
    issue = new_issue(as_reporter)
    assert watcher_api.put(f"issues/{issue['id']}/watch").status_code == 200
    comment(as_maintainer, issue["id"], "Before the demotion")
    assert _types(watcher_api) == ["comment_added"]
    live = [m["type"] for m in webpubsub.group_messages(user_group(watcher.id))]
    assert live == ["comment_added"]
    assert [m["type"] for m in webpubsub.group_messages(user_group(reporter.id))][-1] == "comment_added"

    # Demote (admin API), then make sure the stale watcher row reveals nothing.
    assert as_admin.patch(f"users/{watcher.id}", json={"role": "REPORTER"}).status_code == 200
    comment(as_maintainer, issue["id"], "After the demotion")
    with engine.connect() as conn:  # even a notification row written before the demotion is hidden
        assert (
            conn.execute(
                text("SELECT count(*) FROM notifications WHERE user_id = :u"), {"u": watcher.id}
            ).scalar()
            == 1
        )
    assert watcher_api.get("notifications").json()["items"] == []
    assert watcher_api.get("notifications").json()["unread_count"] == 0
    assert [m["type"] for m in webpubsub.group_messages(user_group(watcher.id))] == ["comment_added"]
    assert [m["type"] for m in webpubsub.group_messages(STAFF_GROUP)][-1] == "comment_added"


def test_watchers_get_live_events_through_their_user_group(  # noqa: PLR0917 (fixtures)
    webpubsub: LocalWebPubSub,
    as_reporter: Api,
    as_maintainer: Api,
    as_admin: Api,
    admin: Any,
    maintainer: Any,
) -> None:
    issue = new_issue(as_reporter)
    as_admin.put(f"issues/{issue['id']}/watch")
    as_admin.patch(f"issues/{issue['id']}", json={"assignee_id": str(maintainer.id)})
    comment(as_reporter, issue["id"], "Thanks")
    to_admin = [m["type"] for m in webpubsub.group_messages(user_group(admin.id))]
    to_maintainer = [m["type"] for m in webpubsub.group_messages(user_group(maintainer.id))]
    # The actor of a change is not notified of it; the new assignee is told of their assignment.
    assert to_admin == ["comment_added"]
    assert to_maintainer == ["issue_assigned", "comment_added"]
    assert "watcher_added" in [m["type"] for m in webpubsub.group_messages(STAFF_GROUP)]


def test_an_edit_that_adds_a_mention_makes_a_watcher(
    as_reporter: Api, as_maintainer: Api, users: Any, engine: Engine
) -> None:
    colleague = users("MAINTAINER", email="late@example.com")
    issue = new_issue(as_reporter)
    first = comment(as_maintainer, issue["id"], "Looking.")
    assert colleague.id not in watcher_ids(engine, issue["id"])
    edited = as_maintainer.patch(
        f"issues/{issue['id']}/comments/{first['id']}", json={"body": "Looking, with @late@example.com."}
    )
    assert edited.status_code == 200, edited.text
    assert colleague.id in watcher_ids(engine, issue["id"])


def test_at_most_twenty_distinct_mentions_count(
    as_reporter: Api, as_maintainer: Api, users: Any, engine: Engine
) -> None:
    staff = [users("MAINTAINER", email=f"m{n:02d}@example.com") for n in range(21)]
    issue = new_issue(as_reporter)
    # Repeats do not use up the allowance; the 21st distinct address is ignored.
    body = "@m00@example.com @M00@example.com " + " ".join(f"@m{n:02d}@example.com" for n in range(21))
    comment(as_maintainer, issue["id"], body)
    watching = watcher_ids(engine, issue["id"])
    assert {u.id for u in staff[:20]} <= watching
    assert staff[20].id not in watching


def test_a_reporters_mentions_cannot_probe_who_is_staff(
    as_reporter: Api, reporter: Any, users: Any, engine: Engine
) -> None:
    """A reporter mentioning a staff address, an unknown one or a reporter's sees the same thing:
    nobody new in the watchers list, and the mentioned staff member is told nothing."""
    staff = users("MAINTAINER", email="maintainer-probe@example.com", full_name="Mia Maintainer")
    issue = new_issue(as_reporter)
    made = comment(as_reporter, issue["id"], "@maintainer-probe@example.com and @nobody@example.com?")
    watchers = as_reporter.get(f"issues/{issue['id']}/watchers").json()
    assert [w["id"] for w in watchers] == [str(reporter.id)]
    assert "Mia" not in json.dumps(watchers) and "MAINTAINER" not in json.dumps(watchers)
    assert watcher_ids(engine, issue["id"]) == {reporter.id}
    edited = as_reporter.patch(
        f"issues/{issue['id']}/comments/{made['id']}", json={"body": "ping @maintainer-probe@example.com"}
    )
    assert edited.status_code == 200, edited.text
    assert watcher_ids(engine, issue["id"]) == {reporter.id}
    assert as_reporter.as_(users.token(staff)).get("notifications").json()["items"] == []
