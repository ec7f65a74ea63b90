"""Who can see which issue. Shared by issues, attachments and live updates."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from trackly.auth.policy import sees_all_issues
from trackly.errors import NotFound
from trackly.models import Issue, User

# Any SELECT over the issues table (rows, counts, grouped counts) keeps its own type.
SelectT = TypeVar("SelectT", bound="Select[*tuple[Any, ...]]")


def visible(query: SelectT, user: User) -> SelectT:
    """Restrict an issue query to what `user` may see (in SQL, so pages and totals are right)."""
    if sees_all_issues(user):
        return query
    return query.where(Issue.created_by == user.id)


def get_visible_issue(
    issue_id: uuid.UUID, user: User, *, session: Session, for_update: bool = False
) -> Issue:
    """The issue if `user` may see it; otherwise 404, so existence is not revealed."""
    query = visible(select(Issue).where(Issue.id == issue_id), user)
    if for_update:
        query = query.with_for_update()
    issue = session.scalar(query)
    if issue is None:
        raise NotFound("Issue not found.")
    return issue
