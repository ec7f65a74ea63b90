"""Who may do what: role x action x ownership, in one table.

Every endpoint names an Action; the HTTP layer checks the role part before the handler runs,
and services call `require` with the ownership facts they load (owner, status, uploader).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trackly.errors import Forbidden
from trackly.models import Role, Status

if TYPE_CHECKING:  # the ORM loads on first use, not with the policy table
    from trackly.models import User


class Action(enum.StrEnum):
    # account
    SELF_READ = "self.read"
    SELF_UPDATE = "self.update"
    # user administration
    USER_LIST = "user.list"
    USER_CREATE = "user.create"
    USER_READ = "user.read"
    USER_UPDATE = "user.update"
    USER_CHANGE_ROLE = "user.change_role"
    USER_DEACTIVATE = "user.deactivate"
    USER_MANAGE_SSO = "user.manage_sso"
    # issues
    ISSUE_CREATE = "issue.create"
    ISSUE_LIST = "issue.list"
    ISSUE_READ = "issue.read"
    ISSUE_EDIT_TEXT = "issue.edit_text"
    ISSUE_TRIAGE = "issue.triage"  # status, severity, file_url
    ISSUE_DELETE = "issue.delete"
    # attachments
    ATTACHMENT_CREATE = "attachment.create"
    ATTACHMENT_READ = "attachment.read"
    ATTACHMENT_DELETE = "attachment.delete"
    FILE_UPLOAD = "file.upload"  # POST /files/upload: a file for an issue yet to be created
    # collaboration
    ISSUE_ASSIGN = "issue.assign"
    ISSUE_LABEL = "issue.label"
    LABEL_LIST = "label.list"
    LABEL_MANAGE = "label.manage"
    COMMENT_LIST = "comment.list"
    COMMENT_CREATE = "comment.create"
    COMMENT_EDIT = "comment.edit"
    COMMENT_DELETE = "comment.delete"
    ISSUE_WATCH = "issue.watch"
    NOTIFICATIONS_READ = "notifications.read"
    NOTIFICATION_SETTINGS = "notification.settings"  # the caller's own email preferences
    NOTIFICATION_DEFAULTS = "notification.defaults"  # the organisation's default per role
    # live updates and statistics
    EVENTS_READ = "events.read"
    REALTIME_NEGOTIATE = "realtime.negotiate"
    STATS_READ = "stats.read"
    STATS_AGGREGATE = "stats.aggregate"
    # export and import
    ISSUE_EXPORT = "issue.export"  # the caller's own list, as a file
    ARCHIVE_EXPORT = "archive.export"
    ARCHIVE_IMPORT = "archive.import"
    # webhooks
    WEBHOOK_MANAGE = "webhook.manage"
    # operations
    OPS_READINESS = "ops.readiness"


@dataclass(frozen=True)
class Facts:
    """What a service knows about the target of an action."""

    owner_id: uuid.UUID | None = None  # issue creator, or the user being administered
    issue_status: Status | None = None
    uploader_id: uuid.UUID | None = None


STAFF = frozenset({Role.ADMIN, Role.MAINTAINER})
EVERYONE = frozenset(Role)

Rule = Callable[["User", "Facts | None"], bool]


def _roles(roles: frozenset[Role]) -> Rule:
    return lambda user, facts: user.role in roles


def _own(user: User, facts: Facts | None) -> bool:
    return facts is None or facts.owner_id == user.id


def _staff_or_own(user: User, facts: Facts | None) -> bool:
    return user.role in STAFF or _own(user, facts)


def _admin_or_self(user: User, facts: Facts | None) -> bool:
    return user.role is Role.ADMIN or _own(user, facts)


def _edit_text(user: User, facts: Facts | None) -> bool:
    if user.role in STAFF:
        return True
    if facts is None:  # role-level check: reporters may, subject to ownership
        return True
    return facts.owner_id == user.id and facts.issue_status is Status.OPEN


def _delete_issue(user: User, facts: Facts | None) -> bool:
    if user.role is Role.ADMIN:
        return True
    if user.role is not Role.REPORTER:
        return False
    if facts is None:
        return True
    return facts.owner_id == user.id and facts.issue_status is Status.OPEN


def _delete_attachment(user: User, facts: Facts | None) -> bool:
    if user.role in STAFF:
        return True
    return facts is None or facts.uploader_id == user.id


def _author(user: User, facts: Facts | None) -> bool:
    # Comments: `owner_id` is the comment's author; only they may edit it.
    return facts is None or facts.owner_id == user.id


def _change_role(user: User, facts: Facts | None) -> bool:
    # Only an ADMIN, and never on their own account.
    return user.role is Role.ADMIN and (facts is None or facts.owner_id != user.id)


RULES: dict[Action, Rule] = {
    Action.OPS_READINESS: _roles(frozenset({Role.ADMIN})),
    Action.SELF_READ: _roles(EVERYONE),
    Action.SELF_UPDATE: _roles(EVERYONE),
    Action.USER_LIST: _roles(frozenset({Role.ADMIN})),
    Action.USER_CREATE: _roles(frozenset({Role.ADMIN})),
    Action.USER_READ: _admin_or_self,
    Action.USER_UPDATE: _admin_or_self,
    Action.USER_CHANGE_ROLE: _change_role,
    Action.USER_DEACTIVATE: _roles(frozenset({Role.ADMIN})),
    Action.USER_MANAGE_SSO: _roles(frozenset({Role.ADMIN})),
    Action.ISSUE_CREATE: _roles(EVERYONE),
    Action.ISSUE_LIST: _roles(EVERYONE),
    Action.ISSUE_READ: _staff_or_own,
    Action.ISSUE_EDIT_TEXT: _edit_text,
    Action.ISSUE_TRIAGE: _roles(STAFF),
    Action.ISSUE_DELETE: _delete_issue,
    Action.ATTACHMENT_CREATE: _staff_or_own,
    Action.ATTACHMENT_READ: _staff_or_own,
    Action.ATTACHMENT_DELETE: _delete_attachment,
    Action.FILE_UPLOAD: _roles(EVERYONE),
    Action.ISSUE_ASSIGN: _roles(STAFF),
    Action.ISSUE_LABEL: _roles(STAFF),
    Action.LABEL_LIST: _roles(EVERYONE),
    Action.LABEL_MANAGE: _roles(frozenset({Role.ADMIN})),
    # Who may see the issue may comment (visibility is checked in SQL first: 404 otherwise).
    Action.COMMENT_LIST: _staff_or_own,
    Action.COMMENT_CREATE: _staff_or_own,
    Action.COMMENT_EDIT: _author,
    Action.COMMENT_DELETE: _staff_or_own,  # the author, or staff moderating
    Action.ISSUE_WATCH: _staff_or_own,
    Action.NOTIFICATIONS_READ: _roles(EVERYONE),
    Action.NOTIFICATION_SETTINGS: _roles(EVERYONE),
    Action.NOTIFICATION_DEFAULTS: _roles(frozenset({Role.ADMIN})),
    Action.EVENTS_READ: _roles(EVERYONE),
    Action.REALTIME_NEGOTIATE: _roles(EVERYONE),
    Action.STATS_READ: _roles(STAFF),
    Action.STATS_AGGREGATE: _roles(frozenset({Role.ADMIN})),
    Action.ISSUE_EXPORT: _roles(EVERYONE),
    Action.ARCHIVE_EXPORT: _roles(frozenset({Role.ADMIN})),
    Action.ARCHIVE_IMPORT: _roles(frozenset({Role.ADMIN})),
    # A hook receives every event, which only an ADMIN may see.
    Action.WEBHOOK_MANAGE: _roles(frozenset({Role.ADMIN})),
}

_MESSAGES: dict[Action, str] = {
    Action.ISSUE_EDIT_TEXT: "Reporters may edit only the title and description of their own open issues.",
    Action.ISSUE_TRIAGE: "Only maintainers and admins may change an issue's status, severity or link.",
    Action.ISSUE_DELETE: "Only admins, or the reporter while the issue is still open, may delete an issue.",
    Action.USER_CHANGE_ROLE: "Roles are assigned by an admin, and nobody can change their own role.",
    Action.ISSUE_ASSIGN: "Only maintainers and admins may assign an issue.",
    Action.ISSUE_LABEL: "Only maintainers and admins may add or remove labels on an issue.",
    Action.LABEL_MANAGE: "Only admins may create, change or delete labels.",
    Action.COMMENT_EDIT: "Only the author of a comment may edit it.",
    Action.COMMENT_DELETE: "Only the author, a maintainer or an admin may delete a comment.",
    Action.STATS_READ: "Statistics are available to maintainers and admins.",
    Action.NOTIFICATION_DEFAULTS: "Only admins may set the organisation's notification defaults.",
    Action.ARCHIVE_EXPORT: "Only admins may export the whole tracker.",
    Action.ARCHIVE_IMPORT: "Only admins may import data.",
    Action.WEBHOOK_MANAGE: "Only admins may manage webhooks.",
}


def allowed(user: User, action: Action, facts: Facts | None = None) -> bool:
    """The role-level answer when `facts` is None; the full answer when facts are given."""
    return user.is_active and RULES[action](user, facts)


def require(user: User, action: Action, facts: Facts | None = None) -> None:
    if not allowed(user, action, facts):
        raise Forbidden(_MESSAGES.get(action, "You do not have permission to do this."))


def sees_all_issues(user: User) -> bool:
    """Staff see every issue; a reporter sees only the issues they created (filtered in SQL)."""
    return user.role in STAFF
