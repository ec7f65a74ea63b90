"""GET/PUT /users/me/notification-settings and the organisation's default per role."""

from __future__ import annotations

from typing import Any

from tests.email.helpers import choose
from tests.support.api import Api, assert_problem

GOOD = {
    "email": "daily",
    "reasons": ["commented"],
    "time_zone": "Europe/Amsterdam",
    "digest_hour": 7,
    "quiet_hours": {"start": "22:00", "end": "07:00"},
}


def test_built_in_defaults_per_role(as_reporter: Api, as_maintainer: Api, as_admin: Api) -> None:
    reporter = as_reporter.get("users/me/notification-settings").json()
    assert reporter == {
        "email": "instant",
        "reasons": ["commented", "status_changed"],
        "time_zone": "UTC",
        "digest_hour": 8,
        "quiet_hours": None,
        "source": "built_in",
        "email_refused_at": None,
    }
    for api in (as_maintainer, as_admin):
        staff = api.get("users/me/notification-settings").json()
        assert staff["reasons"] == ["assigned", "mentioned"] and staff["source"] == "built_in"


def test_own_settings_are_stored_and_win(as_reporter: Api, as_other_reporter: Api) -> None:
    saved = as_reporter.put("users/me/notification-settings", json=GOOD)
    assert saved.status_code == 200
    assert saved.json() == {
        **GOOD,
        "source": "user",
        "email_refused_at": None,
    }
    assert as_reporter.get("users/me/notification-settings").json()["email"] == "daily"
    # Only the caller's own.
    assert as_other_reporter.get("users/me/notification-settings").json()["source"] == "built_in"


def test_bad_settings_are_refused_with_problem_json(as_reporter: Api) -> None:
    for change in (
        {"email": "weekly"},
        {"reasons": ["gossip"]},
        {"reasons": ["commented", "notice"]},  # server notices are never emailed
        {"time_zone": "Mars/Olympus"},
        {"digest_hour": 24},
        {"quiet_hours": {"start": "22:00", "end": "22:00"}},
        {"quiet_hours": {"start": "25:00", "end": "07:00"}},
        {"quiet_hours": {"start": "7:00", "end": "08:00"}},
        {"role": "ADMIN"},
    ):
        response = as_reporter.put("users/me/notification-settings", json={**GOOD, **change})
        assert_problem(response, 422)
    assert as_reporter.get("users/me/notification-settings").json()["source"] == "built_in"  # nothing written


def test_admin_sets_the_organisation_default_for_a_role(
    as_admin: Api, as_maintainer: Api, as_reporter: Api, as_other_reporter: Api, reporter: Any
) -> None:
    assert_problem(as_maintainer.put("notification-settings/defaults/REPORTER", json=GOOD), 403)
    assert_problem(as_reporter.get("notification-settings/defaults"), 403)
    put = as_admin.put("notification-settings/defaults/REPORTER", json=GOOD)
    assert (
        put.status_code == 200 and put.json()["source"] == "organisation" and put.json()["role"] == "REPORTER"
    )
    listed = {d["role"]: d for d in as_admin.get("notification-settings/defaults").json()}
    assert listed["REPORTER"]["email"] == "daily" and listed["MAINTAINER"]["source"] == "built_in"
    assert as_other_reporter.get("users/me/notification-settings").json()["source"] == "organisation"
    # A user's own choice still wins over the organisation's.
    choose(as_reporter, email="off")
    assert as_reporter.get("users/me/notification-settings").json()["email"] == "off"
    assert as_maintainer.get("users/me/notification-settings").json()["source"] == "built_in"
    assert_problem(as_admin.put("notification-settings/defaults/NOBODY", json=GOOD), 422)
