"""Comments on issues: anyone who may see an issue comments on it; authors edit and delete their
own; MAINTAINER and ADMIN delete any (moderation).

Every change records one event in the same transaction (comment_added / comment_edited /
comment_deleted), so the issue history holds the conversation. A deleted comment leaves a
comment_deleted tombstone, and its text is redacted from the earlier events of that comment
(moderation must not leave the removed text readable in the history or the catch-up feed).
Commenters, and users who may see the issue and whom staff mention as `@email`, become watchers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.orm import Session

from trackly import clock
from trackly.auth.policy import STAFF, Action, Facts, require
from trackly.comments.schemas import CommentCreate, CommentListQuery, CommentOut, CommentUpdate
from trackly.errors import BadRequest, NotFound, PreconditionFailed
from trackly.etag import make_etag, matches
from trackly.events.service import record
from trackly.events.types import EventType
from trackly.issues import markdown
from trackly.issues.access import get_visible_issue
from trackly.models import Comment, Issue, User
from trackly.watchers import service as watchers

# `@` followed by an email address; at most MENTIONS_MAX distinct addresses per comment count.
MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
MENTIONS_MAX = 20

_REDACT = text(
    """
    UPDATE events
    SET payload = jsonb_set(payload, '{changes,body}', '[null, null]'::jsonb) || '{"redacted": true}'::jsonb
    WHERE issue_id = :issue_id AND payload->'comment'->>'id' = :comment_id AND payload->'changes' ? 'body'
    """
)


def etag_for(comment_id: uuid.UUID, version: int) -> str:
    return make_etag(comment_id, version)


def _out(comment: Comment, author_name: str | None) -> CommentOut:
    return CommentOut(
        id=comment.id,
        issue_id=comment.issue_id,
        author_id=comment.author_id,
        author_name=author_name,
        body=comment.body,
        body_html=markdown.render(comment.body),
        created_at=comment.created_at,
        updated_at=comment.updated_at,
        edited=comment.edited_at is not None,
        edited_at=comment.edited_at,
        version=comment.version,
    )


def _facts(issue: Issue, comment: Comment | None = None) -> Facts:
    # For edit/delete the "owner" is the comment's author; for create, the issue's creator.
    return Facts(owner_id=comment.author_id if comment else issue.created_by, issue_status=issue.status)


def mentioned(body: str, issue: Issue, *, author: User, session: Session) -> list[uuid.UUID]:
    """Active users mentioned as `@email` who may see the issue (staff, or its creator), when the
    author is staff. A reporter's mentions add nobody: whether `@someone@example.com` then showed
    up among the watchers (with a name and role) would tell a reporter which addresses belong to
    staff accounts. Hiding them from the watchers list instead would still leak through anything
    else a watcher causes (their notifications, their replies), so the mention does nothing."""
    if author.role not in STAFF:
        return []
    emails = list(dict.fromkeys(m.lower() for m in MENTION.findall(body)))[:MENTIONS_MAX]
    if not emails:
        return []
    rows = session.execute(
        select(User.id, User.role).where(func.lower(User.email).in_(emails), User.is_active.is_(True))
    )
    return [user_id for user_id, role in rows if role in STAFF or user_id == issue.created_by]


def _event_comment(comment: Comment) -> dict[str, str | None]:
    return {"id": str(comment.id), "author_id": str(comment.author_id) if comment.author_id else None}


# --- create / edit / delete ------------------------------------------------------------------------


def create_comment(issue_id: uuid.UUID, data: CommentCreate, *, actor: User, session: Session) -> CommentOut:
    # The issue row is locked first, as every other change to the issue does: the comment's
    # insert updates the issue's comment count (migration 0007's trigger).
    issue = get_visible_issue(issue_id, actor, session=session, for_update=True)
    require(actor, Action.COMMENT_CREATE, _facts(issue))
    now = clock.now()
    comment = Comment(
        id=uuid.uuid4(),
        issue_id=issue.id,
        author_id=actor.id,
        body=data.body,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(comment)
    session.flush()
    watchers.watch_all(
        issue.id, [actor.id, *mentioned(data.body, issue, author=actor, session=session)], session=session
    )
    # A staff member answering someone else's issue: what "time to first response" measures.
    response = actor.role in STAFF and actor.id != issue.created_by
    record(
        session=session,
        type=EventType.COMMENT_ADDED,
        issue=issue,
        actor=actor,
        changes={"body": [None, comment.body]},
        extra={"comment": {**_event_comment(comment), "staff_response": response}},
    )
    return _out(comment, actor.full_name)


def _locked_comment(issue: Issue, comment_id: uuid.UUID, *, session: Session) -> Comment:
    comment = session.scalar(
        select(Comment).where(Comment.id == comment_id, Comment.issue_id == issue.id).with_for_update()
    )
    if comment is None:
        raise NotFound("Comment not found.")
    return comment


def _check_if_match(comment: Comment, if_match: list[str] | None) -> None:
    if if_match is not None and not matches(etag_for(comment.id, comment.version), if_match):
        raise PreconditionFailed(
            "The comment was changed since you loaded it (its ETag no longer matches). "
            "Reload it and apply your change again.",
            headers={"ETag": etag_for(comment.id, comment.version)},
        )


def update_comment(
    issue_id: uuid.UUID,
    comment_id: uuid.UUID,
    data: CommentUpdate,
    *,
    actor: User,
    if_match: list[str] | None,
    session: Session,
) -> CommentOut:
    """Checks, in order: issue visible and comment exists (404), author (403), fresh (412).
    The same body again changes nothing."""
    issue = get_visible_issue(issue_id, actor, session=session)
    comment = _locked_comment(issue, comment_id, session=session)
    require(actor, Action.COMMENT_EDIT, _facts(issue, comment))
    _check_if_match(comment, if_match)
    if data.body != comment.body:
        old = comment.body
        now = clock.now()
        comment.body = data.body
        comment.version = comment.version + 1
        comment.updated_at = comment.edited_at = now
        session.flush()
        watchers.watch_all(
            issue.id, mentioned(data.body, issue, author=actor, session=session), session=session
        )
        record(
            session=session,
            type=EventType.COMMENT_EDITED,
            issue=issue,
            actor=actor,
            changes={"body": [old, comment.body]},
            extra={"comment": _event_comment(comment)},
        )
    return _out(comment, actor.full_name)


def delete_comment(
    issue_id: uuid.UUID, comment_id: uuid.UUID, *, actor: User, if_match: list[str] | None, session: Session
) -> None:
    """The author, or MAINTAINER/ADMIN moderating. Leaves a comment_deleted tombstone."""
    issue = get_visible_issue(issue_id, actor, session=session, for_update=True)
    comment = _locked_comment(issue, comment_id, session=session)
    require(actor, Action.COMMENT_DELETE, _facts(issue, comment))
    _check_if_match(comment, if_match)
    session.execute(_REDACT, {"issue_id": issue.id, "comment_id": str(comment.id)})
    record(
        session=session,
        type=EventType.COMMENT_DELETED,
        issue=issue,
        actor=actor,
        changes={},
        extra={"comment": {**_event_comment(comment), "moderated": comment.author_id != actor.id}},
    )
    session.delete(comment)
    session.flush()


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommentPage:
    items: list[CommentOut]
    next_cursor: str | None


def _encode(comment: Comment) -> str:
    raw = json.dumps([comment.created_at.isoformat(), str(comment.id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, cid = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        when = datetime.fromisoformat(str(at))
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, uuid.UUID(str(cid))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("The cursor is not valid; use the URL from the Link header as it is.") from None


def get_comment(issue_id: uuid.UUID, comment_id: uuid.UUID, *, viewer: User, session: Session) -> CommentOut:
    issue = get_visible_issue(issue_id, viewer, session=session)
    row = session.execute(
        select(Comment, User.full_name)
        .outerjoin(User, User.id == Comment.author_id)
        .where(Comment.id == comment_id, Comment.issue_id == issue.id)
    ).one_or_none()
    if row is None:
        raise NotFound("Comment not found.")
    return _out(row[0], row[1])


def list_comments(
    issue_id: uuid.UUID, query: CommentListQuery, *, viewer: User, session: Session
) -> CommentPage:
    """Oldest first, keyset paged on (created_at, id): two queries whatever the page size."""
    issue = get_visible_issue(issue_id, viewer, session=session)
    require(viewer, Action.COMMENT_LIST, _facts(issue))
    page = (
        select(Comment, User.full_name)
        .outerjoin(User, User.id == Comment.author_id)
        .where(Comment.issue_id == issue.id)
        .order_by(Comment.created_at, Comment.id)
        .limit(query.limit + 1)
    )
    if query.cursor:
        at, cid = _decode(query.cursor)
        page = page.where(tuple_(Comment.created_at, Comment.id) > tuple_(at, cid))
    rows = session.execute(page).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return CommentPage(
        items=[_out(comment, name) for comment, name in rows],
        next_cursor=_encode(rows[-1][0]) if more else None,
    )
