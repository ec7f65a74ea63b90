"""Why a user got a notification, and which reasons send email by default for each role.

The reason is chosen when the notification is written (`trackly.events.service`), the most
specific first: the change assigned the issue to them (`assigned`), its comment mentions them
(`mentioned`), someone commented (`commented`), the status changed (`status_changed`), the issue
was created (`created`), else they watch the issue (`watching`).
"""

from __future__ import annotations

import enum

from trackly.models import Role


class Reason(enum.StrEnum):
    CREATED = "created"
    ASSIGNED = "assigned"
    MENTIONED = "mentioned"
    COMMENTED = "commented"
    STATUS_CHANGED = "status_changed"
    WATCHING = "watching"
    # A server notice to admins with no event (e.g. a webhook was disabled): in the app only.
    NOTICE = "notice"


# A reporter hears when someone answers, or the status changes (closing included); staff when
# an issue is given to them or they are named in a comment.
ROLE_REASONS: dict[Role, tuple[Reason, ...]] = {
    Role.REPORTER: (Reason.COMMENTED, Reason.STATUS_CHANGED),
    Role.MAINTAINER: (Reason.ASSIGNED, Reason.MENTIONED),
    Role.ADMIN: (Reason.ASSIGNED, Reason.MENTIONED),
}

DESCRIPTIONS: dict[Reason, str] = {
    Reason.CREATED: "the issue was created",
    Reason.ASSIGNED: "the issue was assigned to you",
    Reason.MENTIONED: "you were mentioned",
    Reason.COMMENTED: "someone commented",
    Reason.STATUS_CHANGED: "the status changed",
    Reason.WATCHING: "you watch this issue",
    Reason.NOTICE: "a notice from the server",
}
