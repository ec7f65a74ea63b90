"""The local demo data: the original Trackly's demo users plus a few sample issues.

Only `python -m trackly seed-demo` and the local host (with its embedded database) call this;
nothing seeds demo accounts in production.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trackly import clock
from trackly.auth.passwords import hash_password
from trackly.events import service as events
from trackly.events.types import EventType
from trackly.models import Issue, Role, Severity, Status, User


@dataclass(frozen=True)
class DemoUser:
    email: str
    password: str
    full_name: str
    role: Role


DEMO_USERS = (
    DemoUser("admin@trackly.com", "admin123", "Ada Admin", Role.ADMIN),
    DemoUser("maintainer@trackly.com", "maintainer123", "Max Maintainer", Role.MAINTAINER),
    DemoUser("reporter@trackly.com", "reporter123", "Rita Reporter", Role.REPORTER),
    # The surprise: a second reporter whose issues Rita can never see (scoping in action).
    DemoUser("surprise@trackly.com", "surprise123", "Sam Surprise", Role.REPORTER),
)

SAMPLE_ISSUES = (
    (
        "reporter@trackly.com",
        "Login button does nothing on Safari",
        Severity.HIGH,
        Status.OPEN,
        "Steps:\n\n1. Open the app in **Safari 17**\n2. Click *Sign in*\n\nNothing happens.",
    ),
    (
        "reporter@trackly.com",
        "Typo on the pricing page",
        Severity.LOW,
        Status.TRIAGED,
        "It says *recieve* instead of *receive*.",
    ),
    (
        "surprise@trackly.com",
        "Export to CSV drops the last row",
        Severity.MEDIUM,
        Status.IN_PROGRESS,
        "Exporting 10 rows gives a file with 9.",
    ),
    (
        "maintainer@trackly.com",
        "Dashboard chart is empty after midnight UTC",
        Severity.CRITICAL,
        Status.OPEN,
        "The daily chart shows no bars between 00:00 and 00:30 UTC.",
    ),
    (
        "admin@trackly.com",
        "Upgrade the database to PostgreSQL 16",
        Severity.MEDIUM,
        Status.DONE,
        "Done during the maintenance window.",
    ),
)


def seed(*, session: Session) -> dict[str, int]:
    """Create the demo users and sample issues if they are missing. Safe to run repeatedly."""
    users: dict[str, User] = {}
    created_users = 0
    for demo in DEMO_USERS:
        user = session.scalar(select(User).where(func.lower(User.email) == demo.email))
        if user is None:
            user = User(
                email=demo.email,
                full_name=demo.full_name,
                role=demo.role,
                password_hash=hash_password(demo.password),
            )
            session.add(user)
            created_users += 1
        users[demo.email] = user
    session.flush()

    created_issues = 0
    if session.scalar(select(func.count()).select_from(Issue)) == 0:
        for email, title, severity, status, description in SAMPLE_ISSUES:
            author = users[email]
            now = clock.now()
            issue = Issue(
                title=title,
                description=description,
                severity=severity,
                status=status,
                created_by=author.id,
                updated_by=author.id,
                created_at=now,
                updated_at=now,
            )
            session.add(issue)
            session.flush()
            events.record(
                session=session,
                type=EventType.ISSUE_CREATED,
                issue=issue,
                actor=author,
                changes={
                    "title": [None, title],
                    "severity": [None, severity.value],
                    "status": [None, status.value],
                },
            )
            created_issues += 1
    return {"users": created_users, "issues": created_issues}
