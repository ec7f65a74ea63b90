"""The local demo data: the original Trackly's demo users plus a few sample issues.

`python -m trackly seed-demo` (asked for by name, refused with TRACKLY_ENV=production) and the
local host in development call this. The local host seeds only its embedded database or a
database without any user (`seed_for_local_host`): pointed with DATABASE_URL at a database that
has accounts, it adds no ADMIN with a published password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trackly import clock
from trackly.auth.passwords import hash_password
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

# (author, title, severity, description, days ago created, [(days ago, actor, new status), ...])
# A short history over the last two weeks, so the dashboard chart and the issue timelines have
# something to show.
SAMPLE_ISSUES: tuple[tuple[str, str, Severity, str, float, list[tuple[float, str, Status]]], ...] = (
    (
        "admin@trackly.com",
        "Upgrade the database to PostgreSQL 16",
        Severity.MEDIUM,
        "Plan the maintenance window and **test the backups** first.",
        14,
        [
            (13, "maintainer@trackly.com", Status.TRIAGED),
            (11, "maintainer@trackly.com", Status.IN_PROGRESS),
            (6, "admin@trackly.com", Status.DONE),
        ],
    ),
    (
        "reporter@trackly.com",
        "Login button does nothing on Safari",
        Severity.HIGH,
        "Steps:\n\n1. Open the app in **Safari 17**\n2. Click *Sign in*\n\nNothing happens.",
        12,
        [],
    ),
    (
        "reporter@trackly.com",
        "Typo on the pricing page",
        Severity.LOW,
        "It says *recieve* instead of *receive*.",
        10,
        [(9, "maintainer@trackly.com", Status.TRIAGED)],
    ),
    (
        "surprise@trackly.com",
        "Export to CSV drops the last row",
        Severity.MEDIUM,
        "Exporting 10 rows gives a file with 9.",
        8,
        [(7, "maintainer@trackly.com", Status.TRIAGED), (5, "maintainer@trackly.com", Status.IN_PROGRESS)],
    ),
    (
        "reporter@trackly.com",
        "Dark mode colours are unreadable",
        Severity.MEDIUM,
        "Grey text on a dark grey background in the settings page.",
        6,
        [(4, "maintainer@trackly.com", Status.DONE), (2, "maintainer@trackly.com", Status.OPEN)],
    ),
    (
        "maintainer@trackly.com",
        "Dashboard chart is empty after midnight UTC",
        Severity.CRITICAL,
        "The daily chart shows no bars between 00:00 and 00:30 UTC.",
        3,
        [],
    ),
)


def seed(*, session: Session) -> dict[str, int]:
    """Create the demo users and sample issues if they are missing. Safe to run repeatedly."""
    from trackly.issues import service as issues
    from trackly.issues.schemas import IssueCreate, IssueUpdate

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
        now = clock.now()
        for email, title, severity, description, days_ago, moves in SAMPLE_ISSUES:
            # Each step happens at its own past time, through the same service the API uses,
            # so the events (history, statistics) are exactly what real use would write.
            with clock.frozen(now - timedelta(days=days_ago, hours=2)):
                issue = issues.create_issue(
                    IssueCreate(title=title, description=description, severity=severity),
                    actor=users[email],
                    session=session,
                )
            for moved_days_ago, actor, status in moves:
                with clock.frozen(now - timedelta(days=moved_days_ago, hours=1)):
                    issues.update_issue(
                        issue.id, IssueUpdate(status=status), actor=users[actor], session=session
                    )
            created_issues += 1
    return {"users": created_users, "issues": created_issues}


def seed_for_local_host(*, embedded: bool, session: Session) -> dict[str, int] | None:
    """`seed` for `python -m trackly serve`: on the embedded database, or on one with no users
    at all (a new database). Returns None, seeding nothing, when another database has users."""
    if not embedded and session.scalar(select(User.id).limit(1)) is not None:
        return None
    return seed(session=session)
