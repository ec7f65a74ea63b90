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
    # personal access tokens (action names, not secrets)
    TOKEN_CREATE = "token.create"  # noqa: S105
    TOKEN_LIST = "token.list"  # noqa: S105
    TOKEN_REVOKE = "token.revoke"  # noqa: S105
    USER_TOKENS = "user.tokens"  # an ADMIN listing or revoking another user's tokens


class Scope(enum.StrEnum):
    """What a personal access token may be used for. Every Action belongs to exactly one scope
    (`SCOPES` below); a token opens an action when it holds its scope *and* its user's role
    allows the action now. Sign-in sessions hold every scope."""

    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    USERS_ADMIN = "users:admin"
    ISSUES_READ = "issues:read"
    ISSUES_WRITE = "issues:write"
    COMMENTS_WRITE = "comments:write"
    LABELS_ADMIN = "labels:admin"
    NOTIFICATIONS_READ = "notifications:read"
    NOTIFICATIONS_WRITE = "notifications:write"
    EVENTS_READ = "events:read"
    STATS_READ = "stats:read"
    STATS_ADMIN = "stats:admin"
    TOKENS_READ = "tokens:read"
    TOKENS_WRITE = "tokens:write"
    ARCHIVE_ADMIN = "archive:admin"
    WEBHOOKS_ADMIN = "webhooks:admin"
    OPS_READ = "ops:read"


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
    Action.TOKEN_CREATE: _roles(EVERYONE),
    Action.TOKEN_LIST: _roles(EVERYONE),
    Action.TOKEN_REVOKE: _roles(EVERYONE),
    Action.USER_TOKENS: _roles(frozenset({Role.ADMIN})),
}

# The scope that opens each action (tests/auth/test_scopes.py: every Action has one).
SCOPES: dict[Action, Scope] = {
    Action.SELF_READ: Scope.USERS_READ,
    Action.SELF_UPDATE: Scope.USERS_WRITE,
    Action.USER_LIST: Scope.USERS_READ,
    Action.USER_READ: Scope.USERS_READ,
    Action.USER_UPDATE: Scope.USERS_WRITE,
    Action.USER_CREATE: Scope.USERS_ADMIN,
    Action.USER_CHANGE_ROLE: Scope.USERS_ADMIN,
    Action.USER_DEACTIVATE: Scope.USERS_ADMIN,
    Action.USER_MANAGE_SSO: Scope.USERS_ADMIN,
    Action.USER_TOKENS: Scope.USERS_ADMIN,
    Action.ISSUE_LIST: Scope.ISSUES_READ,
    Action.ISSUE_READ: Scope.ISSUES_READ,
    Action.ATTACHMENT_READ: Scope.ISSUES_READ,
    Action.COMMENT_LIST: Scope.ISSUES_READ,
    Action.LABEL_LIST: Scope.ISSUES_READ,
    Action.ISSUE_CREATE: Scope.ISSUES_WRITE,
    Action.ISSUE_EDIT_TEXT: Scope.ISSUES_WRITE,
    Action.ISSUE_TRIAGE: Scope.ISSUES_WRITE,
    Action.ISSUE_DELETE: Scope.ISSUES_WRITE,
    Action.ATTACHMENT_CREATE: Scope.ISSUES_WRITE,
    Action.ATTACHMENT_DELETE: Scope.ISSUES_WRITE,
    Action.FILE_UPLOAD: Scope.ISSUES_WRITE,
    Action.ISSUE_ASSIGN: Scope.ISSUES_WRITE,
    Action.ISSUE_LABEL: Scope.ISSUES_WRITE,
    Action.ISSUE_WATCH: Scope.ISSUES_WRITE,
    Action.COMMENT_CREATE: Scope.COMMENTS_WRITE,
    Action.COMMENT_EDIT: Scope.COMMENTS_WRITE,
    Action.COMMENT_DELETE: Scope.COMMENTS_WRITE,
    Action.LABEL_MANAGE: Scope.LABELS_ADMIN,
    Action.NOTIFICATIONS_READ: Scope.NOTIFICATIONS_READ,
    # Your own email preferences (read and written under one action).
    Action.NOTIFICATION_SETTINGS: Scope.NOTIFICATIONS_WRITE,
    # The organisation-wide defaults are user administration.
    Action.NOTIFICATION_DEFAULTS: Scope.USERS_ADMIN,
    Action.EVENTS_READ: Scope.EVENTS_READ,
    Action.REALTIME_NEGOTIATE: Scope.EVENTS_READ,
    Action.STATS_READ: Scope.STATS_READ,
    Action.STATS_AGGREGATE: Scope.STATS_ADMIN,
    Action.TOKEN_CREATE: Scope.TOKENS_WRITE,
    Action.TOKEN_LIST: Scope.TOKENS_READ,
    Action.TOKEN_REVOKE: Scope.TOKENS_WRITE,
    Action.ISSUE_EXPORT: Scope.ISSUES_READ,
    Action.ARCHIVE_EXPORT: Scope.ARCHIVE_ADMIN,
    Action.ARCHIVE_IMPORT: Scope.ARCHIVE_ADMIN,
    Action.WEBHOOK_MANAGE: Scope.WEBHOOKS_ADMIN,
    Action.OPS_READINESS: Scope.OPS_READ,
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


def has_scope(user: User, action: Action) -> bool:
    """Whether the request's credential covers the action (a session token covers everything)."""
    scopes = user.token_scopes
    return scopes is None or SCOPES[action] in scopes


def allowed(user: User, action: Action, facts: Facts | None = None) -> bool:
    """The role-level answer when `facts` is None; the full answer when facts are given. With a
    personal access token, the token must also hold the action's scope."""
    return user.is_active and has_scope(user, action) and RULES[action](user, facts)


def require(user: User, action: Action, facts: Facts | None = None) -> None:
    if not has_scope(user, action):
        raise Forbidden(
            f"This personal access token lacks the '{SCOPES[action]}' scope this needs.",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{SCOPES[action]}"'},
        )
    if not allowed(user, action, facts):
        raise Forbidden(_MESSAGES.get(action, "You do not have permission to do this."))


def sees_all_issues(user: User) -> bool:
    """Staff see every issue; a reporter sees only the issues they created (filtered in SQL)."""
    return user.role in STAFF
