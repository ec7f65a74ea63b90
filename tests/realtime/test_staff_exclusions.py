"""Who staff messages keep out: exactly the users who lost staff access within a token's
lifetime (`users.staff_revoked_at`), never reporters who were merely created or edited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.support.api import Api


def _excluded() -> list[Any]:
    from trackly import db
    from trackly.config import get_settings
    from trackly.realtime.outbox import recently_lost_staff

    with db.session_scope() as session:
        return recently_lost_staff(session=session, settings=get_settings())


def _staff_filters(webpubsub: Any) -> list[str | None]:
    with webpubsub._lock:
        return [r.filter for r in webpubsub.received if r.target == "staff"]


def test_a_demoted_maintainer_and_a_deactivated_admin_are_excluded(
    as_admin: Api, as_reporter: Api, maintainer, users, webpubsub
) -> None:
    other_admin = users("ADMIN")
    assert as_admin.patch(f"users/{maintainer.id}", json={"role": "REPORTER"}).status_code == 200
    assert as_admin.delete(f"users/{other_admin.id}").status_code == 200

    assert set(_excluded()) == {maintainer.id, other_admin.id}
    as_reporter.post("issues", {"title": "Seen by staff only"})
    (only_staff,) = _staff_filters(webpubsub)
    assert only_staff is not None
    assert sorted(only_staff.split(" and ")) == sorted(
        f"userId ne '{u}'" for u in (maintainer.id, other_admin.id)
    )


def test_a_deactivation_through_patch_is_excluded_too(as_admin: Api, users) -> None:
    other_admin = users("ADMIN")
    assert as_admin.patch(f"users/{other_admin.id}", json={"is_active": False}).status_code == 200
    assert _excluded() == [other_admin.id]


def test_reporters_created_or_edited_in_the_window_neither_appear_nor_push_a_demotion_out(  # noqa: PLR0917 (fixtures)
    api: Api, as_admin: Api, as_reporter: Api, maintainer, reporter, users, webpubsub, settings_env
) -> None:
    """The filter used to be guessed from `updated_at` and the role: 150 new or edited reporters
    after a demotion pushed the demoted maintainer past the cap of 100, and they back into `staff`."""
    from trackly.realtime.outbox import MAX_STAFF_EXCLUSIONS

    assert as_admin.patch(f"users/{maintainer.id}", json={"role": "REPORTER"}).status_code == 200

    settings_env(SIGNUP_ENABLED="true")
    signed_up = api.post(
        "auth/signup", {"email": "new@example.com", "password": "password123", "full_name": "New Person"}
    )
    assert signed_up.status_code == 201, signed_up.text
    assert as_reporter.patch(f"users/{reporter.id}", json={"full_name": "Rita Renamed"}).status_code == 200
    created = [users("REPORTER") for _ in range(150)]
    for edited in created[:20]:
        assert as_admin.patch(f"users/{edited.id}", json={"full_name": "Edited"}).status_code == 200
    assert len(created) > MAX_STAFF_EXCLUSIONS

    assert _excluded() == [maintainer.id]
    as_reporter.post("issues", {"title": "After a busy sign-up day"})
    assert _staff_filters(webpubsub) == [f"userId ne '{maintainer.id}'"]


def test_a_demotion_older_than_a_token_lifetime_is_not_excluded(
    as_admin: Api, as_reporter: Api, maintainer, webpubsub
) -> None:
    from trackly import clock
    from trackly.config import get_settings

    window = timedelta(minutes=get_settings().REALTIME_TOKEN_MINUTES + 1)
    with clock.frozen(clock.now() - window - timedelta(minutes=1)):
        assert as_admin.patch(f"users/{maintainer.id}", json={"role": "REPORTER"}).status_code == 200

    assert _excluded() == []
    as_reporter.post("issues", {"title": "Long after the demotion"})
    assert _staff_filters(webpubsub) == [None]


def test_a_demotion_stays_excluded_until_its_window_ends(as_admin: Api, maintainer) -> None:
    from trackly import clock
    from trackly.config import get_settings

    assert as_admin.patch(f"users/{maintainer.id}", json={"role": "REPORTER"}).status_code == 200
    window = timedelta(minutes=get_settings().REALTIME_TOKEN_MINUTES + 1)
    with clock.frozen(clock.now() + window - timedelta(seconds=5)):
        assert _excluded() == [maintainer.id]
    with clock.frozen(clock.now() + window + timedelta(seconds=5)):
        assert _excluded() == []


def test_the_cap_keeps_the_latest_losses(engine, users) -> None:
    """MAX_STAFF_EXCLUSIONS stays as a safety cap on the filter's length: the newest win."""
    from sqlalchemy import text

    from trackly import clock
    from trackly.realtime.outbox import MAX_STAFF_EXCLUSIONS

    now = clock.now()
    lost = [users("REPORTER") for _ in range(MAX_STAFF_EXCLUSIONS + 1)]
    with engine.begin() as conn:
        for age, user in enumerate(lost):
            conn.execute(
                text("UPDATE users SET staff_revoked_at = :at WHERE id = :id"),
                {"at": now - timedelta(seconds=age), "id": user.id},
            )
    assert _excluded() == [u.id for u in lost[:MAX_STAFF_EXCLUSIONS]]
