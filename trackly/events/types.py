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
    ISSUE_ASSIGNED = "issue_assigned"
    ISSUE_LABELED = "issue_labeled"
    ISSUE_UNLABELED = "issue_unlabeled"
    COMMENT_ADDED = "comment_added"
    COMMENT_EDITED = "comment_edited"
    COMMENT_DELETED = "comment_deleted"
    WATCHER_ADDED = "watcher_added"
    WATCHER_REMOVED = "watcher_removed"
    # Of no issue (staff only): who exported or imported what (trackly/portability).
    EXPORT_REQUESTED = "export_requested"
    IMPORT_REQUESTED = "import_requested"
    IMPORT_FINISHED = "import_finished"


# Who starts or stops watching is history, not news: these notify nobody. A new issue has no
# watcher but its creator, who made the change (so its creation skips the notification query).
UNNOTIFIED = frozenset({EventType.WATCHER_ADDED, EventType.WATCHER_REMOVED, EventType.ISSUE_CREATED})
