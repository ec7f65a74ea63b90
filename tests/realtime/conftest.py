"""Fixtures for live updates: the local Web PubSub service, configured through WEBPUBSUB_CONNECTION_STRING."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from trackly.local.webpubsub import LocalWebPubSub


@pytest.fixture(scope="session")
def wps_server() -> Iterator[LocalWebPubSub]:
    with LocalWebPubSub() as service:
        yield service


@pytest.fixture
def webpubsub(wps_server: LocalWebPubSub, settings_env: Callable[..., None]) -> Iterator[LocalWebPubSub]:
    """The local service, emptied, and the app configured to publish to it."""
    wps_server.reset()
    settings_env(WEBPUBSUB_CONNECTION_STRING=wps_server.connection_string, WEBPUBSUB_HUB="trackly")
    yield wps_server
    wps_server.reset()


def record_event(type_: str, issue: Any, actor: Any, *, delete_issue: bool = False, **extra: Any) -> int:
    """Write one event the way the domain services do (inside db.session_scope, so the
    after-commit publisher runs for real). Returns the event id."""
    from trackly import db
    from trackly.events.service import record
    from trackly.events.types import EventType
    from trackly.models import Issue, User

    with db.session_scope() as session:
        row = session.get(Issue, issue.id)
        assert row is not None
        event = record(
            session=session,
            type=EventType(type_),
            issue=row,
            actor=session.get(User, actor.id),
            changes=extra.pop("changes", None),
            extra=extra or None,
        )
        if delete_issue:
            session.delete(row)
        return event


def make_issue(owner: Any, title: str = "Printer on fire") -> Any:
    """An issue row (no event), for tests that write events directly."""
    from trackly import db
    from trackly.models import Issue, Severity, Status

    with db.session_scope() as session:
        issue = Issue(
            title=title, description="", severity=Severity.MEDIUM, status=Status.OPEN, created_by=owner.id
        )
        session.add(issue)
        session.flush()
        session.expunge(issue)
    return issue
