"""Watchers: who follows an issue. The creator, the assignee, commenters and mentioned users
watch automatically; anyone who may see an issue can watch or unwatch it.

Every event on an issue notifies its watchers (`trackly.events.service.record`), and the outbox
also sends it to their `user.<id>` groups, both only while they may see the issue."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import lru_cache

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from trackly import clock
from trackly.auth.policy import Action, Facts, require
from trackly.events.service import record
from trackly.events.types import EventType
from trackly.issues.access import get_visible_issue
from trackly.models import User, Watcher
from trackly.watchers.schemas import WatcherOut, WatchOut


def watch(issue_id: uuid.UUID, user_id: uuid.UUID, *, session: Session) -> bool:
    """Make `user_id` watch the issue; True when they were not watching yet."""
    added = session.execute(
        _insert_watcher(), {"issue_id": issue_id, "user_id": user_id, "created_at": clock.now()}
    ).first()
    return added is not None


@lru_cache(maxsize=1)
def _insert_watcher() -> ReturningInsert[uuid.UUID]:
    # Core on the table, built once: a cached statement, without the ORM's bulk-insert path.
    table = Watcher.metadata.tables[Watcher.__tablename__]
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.issue_id, table.c.user_id])
        .returning(table.c.user_id)
    )


def watch_all(issue_id: uuid.UUID, user_ids: Iterable[uuid.UUID], *, session: Session) -> None:
    """`watch` for several users in one round trip (the same cached statement, rows in key order
    so that two writers take the watcher rows' locks in the same order)."""
    now = clock.now()
    rows = [{"issue_id": issue_id, "user_id": u, "created_at": now} for u in sorted(set(user_ids))]
    if rows:
        session.execute(_insert_watcher(), rows)


def is_watching(issue_id: uuid.UUID, user_id: uuid.UUID, *, session: Session) -> bool:
    found = session.scalar(
        select(Watcher.user_id).where(Watcher.issue_id == issue_id, Watcher.user_id == user_id)
    )
    return found is not None


def set_watching(issue_id: uuid.UUID, watching: bool, *, actor: User, session: Session) -> WatchOut:
    """PUT (watching=True) / DELETE (False) /issues/{id}/watch for the caller; idempotent. A real
    change records a watcher_added / watcher_removed event (history only: it notifies nobody)."""
    issue = get_visible_issue(issue_id, actor, session=session, for_update=True)
    require(actor, Action.ISSUE_WATCH, Facts(owner_id=issue.created_by))
    if watching:
        changed = watch(issue.id, actor.id, session=session)
    else:
        result = session.execute(
            delete(Watcher)
            .where(Watcher.issue_id == issue.id, Watcher.user_id == actor.id)
            .returning(Watcher.user_id)
        )
        changed = result.first() is not None
    if changed:
        record(
            session=session,
            type=EventType.WATCHER_ADDED if watching else EventType.WATCHER_REMOVED,
            issue=issue,
            actor=actor,
            changes={"watchers": [None, str(actor.id)] if watching else [str(actor.id), None]},
        )
    return WatchOut(issue_id=issue.id, watching=watching)


def list_watchers(issue_id: uuid.UUID, *, viewer: User, session: Session) -> list[WatcherOut]:
    """Who watches an issue the viewer may see (404 otherwise), by name."""
    issue = get_visible_issue(issue_id, viewer, session=session)
    rows = session.execute(
        select(User.id, User.full_name, User.role, Watcher.created_at)
        .join(Watcher, Watcher.user_id == User.id)
        .where(Watcher.issue_id == issue.id)
        .order_by(Watcher.created_at, User.id)
    )
    return [WatcherOut(id=i, full_name=n, role=r, since=at) for i, n, r, at in rows]
