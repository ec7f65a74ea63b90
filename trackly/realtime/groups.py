"""Web PubSub group names, and who receives what.

- `staff`: every MAINTAINER and ADMIN connection; receives every event.
- `user.<uuid>`: one group per user; receives the events of the issues that user created, and
  of the issues they watch (only while they may see them: see `outbox.watcher_ids`).

A connection is put into its groups by the service when it connects (the groups are listed in
the client access token), so a client never joins a group by itself and holds no
`webpubsub.joinLeaveGroup` role.

Because the groups are fixed in the token, a user who loses staff access (demoted to REPORTER
or deactivated) could reconnect with a URL negotiated before the change and be put into `staff`
again until that token expires (REALTIME_TOKEN_MINUTES). Their connections are closed at the
change; on top of that, messages to `staff` carry a filter excluding such users for as long as
a token from before the change may live (`staff_filter`), so a reconnection in that window joins
`staff` but receives nothing from it.
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


def staff_filter(excluded_user_ids: list[uuid.UUID]) -> str | None:
    """The Web PubSub OData filter that keeps these users' connections out of a send (None: no
    filter). User ids are UUIDs, so nothing needs quoting beyond the literal quotes."""
    if not excluded_user_ids:
        return None
    return " and ".join(f"userId ne '{uuid.UUID(str(u))}'" for u in excluded_user_ids)


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
