"""Event types written to the events table (and sent as live updates)."""

from __future__ import annotations

import enum


class EventType(enum.StrEnum):
    ISSUE_CREATED = "issue_created"
    ISSUE_UPDATED = "issue_updated"
    ISSUE_STATUS_CHANGED = "issue_status_changed"
    ISSUE_DELETED = "issue_deleted"
    ATTACHMENT_ADDED = "attachment_added"
    ATTACHMENT_REMOVED = "attachment_removed"
