"""Labels: ADMIN-managed (name unique regardless of case), put on issues by staff.

Putting a label on an issue or taking it off changes what the issue resource shows, so it is a
change to the issue: new version (ETag), one event. Deleting a label takes it off every issue
that carried it in the same transaction, with one issue_unlabeled event per issue.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, cast, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trackly import clock
from trackly.auth.policy import Action, Facts, require, sees_all_issues
from trackly.errors import Conflict, NotFound
from trackly.events.service import record, record_many
from trackly.events.types import EventType
from trackly.issues import service as issues
from trackly.issues.schemas import IssueOut
from trackly.labels.schemas import IssuesByLabel, LabelCountOut, LabelCreate, LabelOut, LabelUpdate
from trackly.models import Issue, IssueLabel, Label, Status, User


def _out(label: Label) -> LabelOut:
    return LabelOut(
        id=label.id,
        name=label.name,
        color=label.color,
        description=label.description,
        created_at=label.created_at,
    )


def _taken(name: str) -> Conflict:
    return Conflict(f"A label named '{name}' already exists (names are unique regardless of case).")


def _name_taken(name: str, *, except_id: uuid.UUID | None, session: Session) -> bool:
    query = select(Label.id).where(func.lower(Label.name) == name.lower())
    if except_id is not None:
        query = query.where(Label.id != except_id)
    return session.scalar(query) is not None


def _flush_unique(label: Label, *, session: Session) -> None:
    """Flush, turning a concurrent duplicate name (the unique index) into a 409."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise _taken(label.name) from None


def list_labels(*, session: Session) -> list[LabelOut]:
    return [
        _out(label) for label in session.scalars(select(Label).order_by(func.lower(Label.name), Label.id))
    ]


def get_label(
    label_id: uuid.UUID, *, session: Session, for_update: bool = False, for_share: bool = False
) -> Label:
    query = select(Label).where(Label.id == label_id)
    if for_update or for_share:
        query = query.with_for_update(read=for_share and not for_update)
    label = session.scalar(query)
    if label is None:
        raise NotFound("Label not found.")
    return label


def create_label(data: LabelCreate, *, session: Session) -> LabelOut:
    if _name_taken(data.name, except_id=None, session=session):
        raise _taken(data.name)
    label = Label(
        id=uuid.uuid4(),
        name=data.name,
        color=data.color,
        description=data.description,
        created_at=clock.now(),
    )
    session.add(label)
    _flush_unique(label, session=session)
    return _out(label)


def update_label(label_id: uuid.UUID, data: LabelUpdate, *, session: Session) -> LabelOut:
    """Renaming or recolouring a label is not a change to the issues that carry it (no events)."""
    label = get_label(label_id, session=session, for_update=True)
    if data.name is not None and data.name != label.name:
        if _name_taken(data.name, except_id=label.id, session=session):
            raise _taken(data.name)
        label.name = data.name
    if data.color is not None:
        label.color = data.color
    if data.description is not None:
        label.description = data.description
    _flush_unique(label, session=session)
    return _out(label)


def delete_label(label_id: uuid.UUID, *, actor: User, session: Session) -> int:
    """Delete the label and take it off every issue (one transaction); returns how many issues.

    Set-based whatever the number of carriers: each carrier gets a new version and one
    issue_unlabeled event, in a fixed number of statements (the events in batches)."""
    label = get_label(label_id, session=session, for_update=True)
    # Locked in id order (as the summary triggers of migration 0007 lock them).
    carriers = session.scalars(
        select(Issue)
        .where(Issue.id.in_(select(IssueLabel.issue_id).where(IssueLabel.label_id == label.id)))
        .order_by(Issue.id)
        .with_for_update()
    ).all()
    issues.touch_all(carriers, actor, session=session)
    session.execute(delete(IssueLabel).where(IssueLabel.label_id == label.id))
    record_many(
        session=session,
        type=EventType.ISSUE_UNLABELED,
        issues=carriers,
        actor=actor,
        changes={"labels": [label.name, None]},
        extra={"label": {"id": str(label.id), "name": label.name, "deleted": True}},
    )
    session.delete(label)
    session.flush()
    return len(carriers)


def _change(
    issue_id: uuid.UUID,
    label_id: uuid.UUID,
    *,
    add: bool,
    actor: User,
    if_match: list[str] | None,
    session: Session,
) -> IssueOut:
    # The label first, then the issue: the order in which a rename and a deletion lock them (the
    # label, then the issues carrying it), so none of them can deadlock another. Shared: a
    # concurrent rename finishes before this change or waits for it, so the labels stored on the
    # issue (migration 0007) show the name that wins.
    label = get_label(label_id, session=session, for_share=True)
    row = issues.locked(issue_id, actor, session=session)
    issue = row.issue
    require(actor, Action.ISSUE_LABEL, Facts(owner_id=issue.created_by, issue_status=issue.status))
    issues.check_if_match(issue, if_match)
    if add:
        changed = (
            session.execute(
                insert(IssueLabel)
                .values(issue_id=issue.id, label_id=label.id)
                .on_conflict_do_nothing(index_elements=[IssueLabel.issue_id, IssueLabel.label_id])
                .returning(IssueLabel.label_id)
            ).first()
            is not None
        )
    else:
        changed = (
            session.execute(
                delete(IssueLabel)
                .where(IssueLabel.issue_id == issue.id, IssueLabel.label_id == label.id)
                .returning(IssueLabel.label_id)
            ).first()
            is not None
        )
    if not changed:  # already so: nothing is written
        return issues.render_row(row, viewer=actor, session=session)
    issues.touch(issue, actor)
    session.flush()
    record(
        session=session,
        type=EventType.ISSUE_LABELED if add else EventType.ISSUE_UNLABELED,
        issue=issue,
        actor=actor,
        changes={"labels": [None, label.name] if add else [label.name, None]},
        extra={"label": {"id": str(label.id), "name": label.name, "color": label.color}},
    )
    return issues.render(issue.id, viewer=actor, session=session)


def add_to_issue(
    issue_id: uuid.UUID, label_id: uuid.UUID, *, actor: User, if_match: list[str] | None, session: Session
) -> IssueOut:
    return _change(issue_id, label_id, add=True, actor=actor, if_match=if_match, session=session)


def remove_from_issue(
    issue_id: uuid.UUID, label_id: uuid.UUID, *, actor: User, if_match: list[str] | None, session: Session
) -> IssueOut:
    return _change(issue_id, label_id, add=False, actor=actor, if_match=if_match, session=session)


def counts(*, viewer: User, session: Session) -> IssuesByLabel:
    """Per label: the issues the viewer can see that carry it, and how many of them are not DONE
    (one grouped query over issue_labels; a reporter's counts cover only their own issues)."""
    joined = (
        select(
            IssueLabel.label_id,
            cast(func.count(), BigInteger).label("n"),
            cast(func.count().filter(Issue.status != Status.DONE), BigInteger).label("open_n"),
        )
        .join(Issue, Issue.id == IssueLabel.issue_id)
        .group_by(IssueLabel.label_id)
    )
    if not sees_all_issues(viewer):
        joined = joined.where(Issue.created_by == viewer.id)
    per_label = joined.subquery()
    rows = session.execute(
        select(Label.id, Label.name, Label.color, per_label.c.n, per_label.c.open_n)
        .outerjoin(per_label, per_label.c.label_id == Label.id)
        .order_by(func.lower(Label.name), Label.id)
    )
    return IssuesByLabel(
        issues_by_label=[
            LabelCountOut(id=i, name=name, color=color, issues=n or 0, open_issues=open_n or 0)
            for i, name, color, n, open_n in rows
        ]
    )
