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
