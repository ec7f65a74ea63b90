"""`users.staff_revoked_at` is set by exactly the changes that end someone's staff access: an
ADMIN or MAINTAINER demoted to REPORTER, or deactivated. Nothing else touches it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api


def _revoked_at(engine: Engine, user: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT staff_revoked_at FROM users WHERE id = :id"), {"id": user.id}
        ).scalar_one()


@pytest.mark.parametrize(
    ("role", "change"),
    [
        ("MAINTAINER", {"role": "REPORTER"}),
        ("ADMIN", {"role": "REPORTER"}),
        ("MAINTAINER", {"is_active": False}),
        ("ADMIN", {"is_active": False}),
        ("ADMIN", {"role": "REPORTER", "is_active": False}),
    ],
)
def test_losing_staff_access_records_when(
    as_admin: Api, users, engine: Engine, role: str, change: dict[str, Any]
) -> None:
    from trackly import clock

    target = users(role)
    before = clock.now()
    assert as_admin.patch(f"users/{target.id}", json=change).status_code == 200
    revoked = _revoked_at(engine, target)
    assert revoked is not None
    assert before <= revoked <= clock.now()


@pytest.mark.parametrize("role", ["MAINTAINER", "ADMIN"])
def test_deleting_a_staff_user_records_when(as_admin: Api, users, engine: Engine, role: str) -> None:
    target = users(role)
    assert as_admin.delete(f"users/{target.id}").status_code == 200
    assert _revoked_at(engine, target) is not None


@pytest.mark.parametrize(
    ("role", "change"),
    [
        ("MAINTAINER", {"full_name": "Renamed"}),
        ("ADMIN", {"role": "MAINTAINER"}),  # still staff
        ("MAINTAINER", {"role": "ADMIN"}),
        ("REPORTER", {"role": "MAINTAINER"}),
        ("REPORTER", {"full_name": "Renamed"}),
        ("REPORTER", {"is_active": False}),  # never had staff access
    ],
)
def test_changes_that_keep_or_never_had_staff_access_record_nothing(
    as_admin: Api, users, engine: Engine, role: str, change: dict[str, Any]
) -> None:
    target = users(role)
    assert as_admin.patch(f"users/{target.id}", json=change).status_code == 200
    assert _revoked_at(engine, target) is None


def test_deleting_a_reporter_records_nothing(as_admin: Api, reporter, engine: Engine) -> None:
    assert as_admin.delete(f"users/{reporter.id}").status_code == 200
    assert _revoked_at(engine, reporter) is None


def test_demoting_a_deactivated_maintainer_keeps_the_deactivation_time(
    as_admin: Api, users, engine: Engine
) -> None:
    """The access ended at the deactivation; a later demotion of the inactive account is no new loss."""
    target = users("MAINTAINER", is_active=False)
    assert as_admin.patch(f"users/{target.id}", json={"role": "REPORTER"}).status_code == 200
    assert _revoked_at(engine, target) is None


def test_a_refused_demotion_records_nothing(as_admin: Api, admin, engine: Engine) -> None:
    assert as_admin.patch(f"users/{admin.id}", json={"role": "REPORTER"}).status_code in (403, 409)
    assert _revoked_at(engine, admin) is None
