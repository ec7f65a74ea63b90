"""SQLAlchemy 2.0 typed models, one module per part of the domain.

The enums load with the package; the mapped classes load on first use (PEP 562 `__getattr__`),
all together, because relationships between them resolve by name. Defining the mapped classes
costs tens of milliseconds, which every new Function App instance would otherwise pay at import
time even when its first request never touches the database.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trackly.models.enums import AttachmentStatus, Role, Severity, Status

if TYPE_CHECKING:
    from trackly.models.base import Base
    from trackly.models.collaboration import Comment, IssueLabel, Label, Notification, Watcher
    from trackly.models.email import (
        InboundReply,
        NotificationDefault,
        NotificationDelivery,
        NotificationSettings,
    )
    from trackly.models.events import Event
    from trackly.models.issues import Attachment, IdempotencyKey, Issue, IssueCount
    from trackly.models.operations import TimerRun
    from trackly.models.portability import ExportJob, ImportJob, ImportLink, ImportResult
    from trackly.models.stats import DailyStats
    from trackly.models.users import (
        ApiToken,
        AuthFlow,
        LoginCode,
        LoginThrottle,
        RateLimitCounter,
        RefreshToken,
        SsoLink,
        User,
    )
    from trackly.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

# Where each mapped class is defined.
_MAPPED = {
    "Base": "base",
    "Comment": "collaboration",
    "IssueLabel": "collaboration",
    "Label": "collaboration",
    "Notification": "collaboration",
    "Watcher": "collaboration",
    "Event": "events",
    "InboundReply": "email",
    "NotificationDefault": "email",
    "NotificationDelivery": "email",
    "NotificationSettings": "email",
    "Attachment": "issues",
    "IdempotencyKey": "issues",
    "Issue": "issues",
    "IssueCount": "issues",
    "ExportJob": "portability",
    "ImportJob": "portability",
    "ImportLink": "portability",
    "ImportResult": "portability",
    "DailyStats": "stats",
    "ApiToken": "users",
    "TimerRun": "operations",
    "AuthFlow": "users",
    "RateLimitCounter": "users",
    "LoginCode": "users",
    "LoginThrottle": "users",
    "RefreshToken": "users",
    "SsoLink": "users",
    "User": "users",
    "Webhook": "webhooks",
    "WebhookAttempt": "webhooks",
    "WebhookDelivery": "webhooks",
}


def __getattr__(name: str) -> Any:
    if name not in _MAPPED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module in sorted(set(_MAPPED.values())):
        importlib.import_module(f"{__name__}.{module}")
    value = getattr(importlib.import_module(f"{__name__}.{_MAPPED[name]}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


__all__ = [
    "ApiToken",
    "Attachment",
    "AttachmentStatus",
    "AuthFlow",
    "Base",
    "Comment",
    "DailyStats",
    "Event",
    "ExportJob",
    "IdempotencyKey",
    "ImportJob",
    "ImportLink",
    "ImportResult",
    "InboundReply",
    "Issue",
    "IssueCount",
    "IssueLabel",
    "Label",
    "LoginCode",
    "LoginThrottle",
    "Notification",
    "NotificationDefault",
    "NotificationDelivery",
    "NotificationSettings",
    "RateLimitCounter",
    "RefreshToken",
    "Role",
    "Severity",
    "SsoLink",
    "Status",
    "TimerRun",
    "User",
    "Watcher",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
