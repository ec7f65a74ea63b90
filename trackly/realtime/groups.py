"""Web PubSub group names, and who receives what.

- `staff`: every MAINTAINER and ADMIN connection; receives every event.
- `user.<uuid>`: one group per user; receives the events of the issues that user created, and
  of the issues they watch (only while they may see them: see `outbox.watcher_ids`).

A connection is put into its groups by the service when it connects (the groups are listed in
the client access token), so a client never joins a group by itself and holds no
`webpubsub.joinLeaveGroup` role.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from trackly.auth.policy import sees_all_issues
from trackly.models import Event, User

STAFF_GROUP = "staff"


def user_group(user_id: uuid.UUID) -> str:
    return f"user.{user_id}"


def groups_for_user(user: User) -> list[str]:
    """The groups a user's connection joins: staff (if they see every issue) and their own."""
    groups = [STAFF_GROUP] if sees_all_issues(user) else []
    groups.append(user_group(user.id))
    return groups


def groups_for_event(event: Event, watchers: Iterable[uuid.UUID] = ()) -> list[str]:
    """The groups an event is sent to: staff always; the issue owner's group when there is one;
    the groups of the watchers it notified (who may see the issue: checked by the caller)."""
    targets = [STAFF_GROUP]
    if event.audience_owner_id is not None:
        targets.append(user_group(event.audience_owner_id))
    for user_id in watchers:
        if user_id != event.audience_owner_id:
            targets.append(user_group(user_id))
    return targets
