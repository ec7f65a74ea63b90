"""SQLAlchemy 2.0 typed models, one module per part of the domain."""

from trackly.models.base import AttachmentStatus, Base, Role, Severity, Status
from trackly.models.collaboration import Comment, IssueLabel, Label, Notification, Watcher
from trackly.models.events import Event
from trackly.models.issues import Attachment, IdempotencyKey, Issue, IssueCount
from trackly.models.stats import DailyStats
from trackly.models.users import AuthFlow, LoginCode, LoginThrottle, RefreshToken, SsoLink, User

__all__ = [
    "Attachment",
    "AttachmentStatus",
    "AuthFlow",
    "Base",
    "Comment",
    "DailyStats",
    "Event",
    "IdempotencyKey",
    "Issue",
    "IssueCount",
    "IssueLabel",
    "Label",
    "LoginCode",
    "LoginThrottle",
    "Notification",
    "RefreshToken",
    "Role",
    "Severity",
    "SsoLink",
    "Status",
    "User",
    "Watcher",
]
