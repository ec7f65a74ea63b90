"""Changing someone's access closes their live connections, so they renegotiate their groups."""

from __future__ import annotations

from tests.support.api import Api


def test_demotion_and_deactivation_close_the_users_connections(
    as_admin: Api, maintainer, reporter, webpubsub
) -> None:
    assert as_admin.patch(f"users/{maintainer.id}", json={"full_name": "Renamed"}).status_code == 200
    assert webpubsub.closed_users == []  # a name change does not touch access

    assert as_admin.patch(f"users/{maintainer.id}", json={"role": "REPORTER"}).status_code == 200
    assert webpubsub.closed_users == [str(maintainer.id)]

    assert as_admin.delete(f"users/{reporter.id}").status_code == 200
    assert webpubsub.closed_users == [str(maintainer.id), str(reporter.id)]


def test_a_refused_change_closes_nothing(as_reporter: Api, reporter, webpubsub) -> None:
    assert as_reporter.patch(f"users/{reporter.id}", json={"role": "ADMIN"}).status_code == 403
    assert webpubsub.closed_users == []


def test_without_web_pubsub_access_changes_still_work(as_admin: Api, maintainer) -> None:
    assert as_admin.patch(f"users/{maintainer.id}", json={"role": "REPORTER"}).status_code == 200


def test_a_demoted_maintainer_reconnecting_with_an_old_url_receives_no_staff_events(
    as_admin: Api, as_reporter: Api, maintainer, users, webpubsub
) -> None:
    """Issue 16, item 5: the negotiate token fixes `staff` in it, so a reconnection with a URL
    from before the demotion joins `staff` again; staff messages exclude that user meanwhile."""
    from datetime import timedelta

    from trackly import clock
    from trackly.config import get_settings

    old_url = as_admin.as_(users.token(maintainer)).get("realtime/negotiate").json()
    assert old_url["groups"][0] == "staff"
    assert as_admin.patch(f"users/{maintainer.id}", json={"role": "REPORTER"}).status_code == 200

    first = as_reporter.post("issues", {"title": "While the old URL is valid"}).json()["id"]
    sent = [m["issue_id"] for m in webpubsub.group_messages("staff")]
    assert sent == [first]
    assert webpubsub.delivered_to("staff", str(maintainer.id)) == []
    admin_id = as_admin.get("auth/me").json()["id"]
    assert len(webpubsub.delivered_to("staff", admin_id)) == 1

    # Once every token from before the demotion has expired, staff messages carry no filter.
    later = clock.now() + timedelta(minutes=get_settings().REALTIME_TOKEN_MINUTES + 2)
    webpubsub.reset()
    with clock.frozen(later):
        as_reporter.post("issues", {"title": "After the window"})
    with webpubsub._lock:
        assert [r.filter for r in webpubsub.received if r.target == "staff"] == [None]


def test_re_promoted_or_still_staff_users_are_not_excluded(
    as_admin: Api, as_reporter: Api, maintainer, webpubsub
) -> None:
    assert as_admin.patch(f"users/{maintainer.id}", json={"role": "REPORTER"}).status_code == 200
    assert as_admin.patch(f"users/{maintainer.id}", json={"role": "MAINTAINER"}).status_code == 200
    as_reporter.post("issues", {"title": "Back on staff"})
    assert len(webpubsub.delivered_to("staff", str(maintainer.id))) == 1
