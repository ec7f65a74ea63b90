"""Issues: create, read, list, update (workflow + optimistic concurrency), delete, history, counters.

Every change writes exactly one event (trackly.events.service.record) in the caller's
transaction, after the change is applied (so the snapshot is the new state); a delete records
its event before the row goes. Services never commit: the endpoint layer does, once.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    Select,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, aliased

from trackly import clock
from trackly.attachments import links
from trackly.attachments import service as attachments
from trackly.attachments.schemas import AttachmentOut
from trackly.auth.policy import Action, Facts, require, sees_all_issues
from trackly.errors import BadRequest, NotFound, PreconditionFailed
from trackly.etag import make_etag
from trackly.events.service import record
from trackly.events.types import EventType
from trackly.issues import assignees, markdown, workflow
from trackly.issues.access import SelectT, visible
from trackly.issues.schemas import (
    Actor,
    HistoryEntry,
    IssueCreate,
    IssueFilters,
    IssueListQuery,
    IssueOut,
    IssueUpdate,
    to_utc,
)
from trackly.labels.schemas import IssueLabelOut
from trackly.models import Event, Issue, IssueCount, IssueLabel, Label, Severity, Status, User
from trackly.watchers import service as watchers

Creator = aliased(User, name="creator")
Updater = aliased(User, name="updater")
Assignee = aliased(User, name="assignee")

TEXT_FIELDS = frozenset({"title", "description"})
# Fields in the order they appear in events' `changes`.
TRACKED_FIELDS = ("title", "description", "severity", "status", "file_url", "assignee_id")


# --- rendering ------------------------------------------------------------------------------------


def etag_for(issue_id: uuid.UUID, version: int) -> str:
    """The version tag: what If-Match is compared on (see `representation_etag`)."""
    return make_etag(issue_id, version)


def representation_etag(issue: IssueOut) -> str:
    """The ETag an issue is served with: its version plus a digest of the whole representation,
    so a change the version does not count (a renamed creator or assignee, a relabelled label, a
    new comment, the caller's allowed transitions) never earns a stale 304. If-Match compares only
    the id and version part: such changes do not make an edit of the issue a lost update."""
    digest = hashlib.sha256(issue.model_dump_json().encode()).hexdigest()[:16]
    return make_etag(issue.id, issue.version, digest)


def version_matches(issue_id: uuid.UUID, version: int, tags: list[str]) -> bool:
    """If-Match: `*`, the version tag, or a representation tag of this version."""
    current = etag_for(issue_id, version)
    prefix = current[:-1] + "-"
    return "*" in tags or any(tag == current or tag.startswith(prefix) for tag in tags)


class IssueRow(NamedTuple):
    issue: Issue
    creator_name: str | None
    updater_name: str | None
    assignee_name: str | None
    labels: list[dict[str, Any]]
    comment_count: int


RowSelect = Select[Issue, str, str | None, str | None, list[dict[str, Any]], int]


@lru_cache(maxsize=1)
def _rows() -> RowSelect:
    """Issues with everything a row renders, in one query: the creator's and last editor's
    names (joins), the assignee's name (a primary-key lookup; as a subquery it adds less planning
    time than a third join: 1.12x against 1.17-1.21x the list before these fields, bench/README.md)
    and the labels and comment count the row itself carries (kept by the triggers of migration
    0007). The labels and count are selected as columns, not loaded on the entity, so a row read
    after a trigger changed them is never stale."""
    return (
        select(
            Issue,
            Creator.full_name.label("creator_name"),
            Updater.full_name.label("updater_name"),
            select(Assignee.full_name)
            .where(Assignee.id == Issue.assignee_id)
            .correlate(Issue)
            .scalar_subquery()
            .label("assignee_name"),
            Issue.labels,
            Issue.comment_count,
        )
        .join(Creator, Creator.id == Issue.created_by)
        .outerjoin(Updater, Updater.id == Issue.updated_by)
    )


def _out(row: IssueRow, files: list[AttachmentOut], *, viewer: User, preset: workflow.Preset) -> IssueOut:
    issue = row.issue
    return IssueOut(
        id=issue.id,
        title=issue.title,
        description=issue.description,
        description_html=markdown.render(issue.description),
        severity=issue.severity,
        status=issue.status,
        created_by=issue.created_by,
        created_by_name=row.creator_name,
        updated_by=issue.updated_by,
        updated_by_name=row.updater_name,
        created_at=issue.created_at,
        updated_at=issue.updated_at,
        file_url=issue.file_url,
        version=issue.version,
        attachments=files,
        assignee_id=issue.assignee_id,
        assignee_name=row.assignee_name,
        labels=[IssueLabelOut.model_validate(label) for label in row.labels or []],
        source_url=issue.source_url,
        comment_count=row.comment_count,
        allowed_transitions=workflow.allowed_for(
            viewer, owner_id=issue.created_by, current=issue.status, preset=preset
        ),
    )


def render_row(row: IssueRow, *, viewer: User, session: Session) -> IssueOut:
    """A row of `locked` or of the row queries, as the API shows it (its attachments read here)."""
    files = attachments.active_for_issues([row.issue.id], session=session)[row.issue.id]
    return _out(row, files, viewer=viewer, preset=workflow.active_preset())


@lru_cache(maxsize=1)
def _one_row() -> RowSelect:
    # One statement object for every call: SQLAlchemy memoizes its cache key on the object, so
    # the id is bound per call instead of rebuilding (and re-keying) the statement.
    return _rows().where(Issue.id == bindparam("issue_id"))


@lru_cache(maxsize=1)
def _one_row_locked() -> RowSelect:
    return _one_row().with_for_update(of=Issue)


def render(issue_id: uuid.UUID, *, viewer: User, session: Session) -> IssueOut:
    """The issue as it is now in this transaction (after a change made by another service)."""
    row = session.execute(_one_row(), {"issue_id": issue_id}).one()
    return render_row(IssueRow(*row), viewer=viewer, session=session)


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    return value.value if isinstance(value, enum.Enum) else value


def _check_if_match(issue: Issue, if_match: list[str] | None) -> None:
    """No If-Match: the write proceeds (the original client sends none). Stale tag: 412."""
    if if_match is None:
        return
    if not version_matches(issue.id, issue.version, if_match):
        raise PreconditionFailed(
            "The issue was changed by someone else since you loaded it (its ETag no longer matches). "
            "Reload it and apply your change again.",
            headers={"ETag": etag_for(issue.id, issue.version)},
        )


def locked(issue_id: uuid.UUID, actor: User, *, session: Session) -> IssueRow:
    """The visible issue, row-locked until commit (404 when not visible), with what it renders."""
    row = session.execute(visible(_one_row_locked(), actor), {"issue_id": issue_id}).one_or_none()
    if row is None:
        raise NotFound("Issue not found.")
    return IssueRow(*row)


def check_if_match(issue: Issue, if_match: list[str] | None) -> None:
    _check_if_match(issue, if_match)


def touch(issue: Issue, actor: User) -> None:
    """A change to what the issue resource shows: new version (ETag), time and editor."""
    issue.version = issue.version + 1
    issue.updated_at = clock.now()
    issue.updated_by = actor.id


def touch_all(issues: Sequence[Issue], actor: User, *, session: Session) -> None:
    """`touch` for many (already locked) issues in one UPDATE, whatever their number."""
    session.execute(
        update(Issue)
        .where(Issue.id.in_([issue.id for issue in issues]))
        .values(version=Issue.version + 1, updated_at=clock.now(), updated_by=actor.id),
        execution_options={"synchronize_session": False},
    )
    for issue in issues:  # the loaded objects now hold the old values
        session.expire(issue, ["version", "updated_at", "updated_by"])


# --- create / read --------------------------------------------------------------------------------


def create_issue(data: IssueCreate, *, actor: User, session: Session) -> IssueOut:
    now = clock.now()
    issue = Issue(
        id=uuid.uuid4(),
        title=data.title,
        description=data.description,
        severity=data.severity,
        status=workflow.INITIAL_STATUS,
        file_url=data.file_url,
        created_by=actor.id,
        updated_by=actor.id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    # Every column the response shows is known here, so a prebuilt Core insert (cached, no
    # RETURNING) replaces the ORM flush; `issue` stays a transient object for what follows.
    session.execute(_insert_issue(), {name: getattr(issue, name) for name in _INSERTED})
    files = _claim_upload(issue, actor, session=session)
    watchers.watch(issue.id, actor.id, session=session)
    record(
        session=session,
        type=EventType.ISSUE_CREATED,
        issue=issue,
        actor=actor,
        changes={name: [None, _json(getattr(issue, name))] for name in TRACKED_FIELDS},
    )
    return _out(
        IssueRow(issue, actor.full_name, actor.full_name, None, [], 0),
        files,
        viewer=actor,
        preset=workflow.active_preset(),
    )


_INSERTED = (
    "id", "title", "description", "severity", "status", "file_url",
    "created_by", "updated_by", "created_at", "updated_at", "version",
)  # fmt: skip


@lru_cache(maxsize=1)
def _insert_issue() -> Insert:
    return insert(Issue.metadata.tables[Issue.__tablename__])


def _claim_upload(issue: Issue, actor: User, *, session: Session) -> list[AttachmentOut]:
    """When `file_url` names a file uploaded with POST /files/upload (the schema made it the
    internal reference), attach the caller's own unclaimed upload to the issue in this
    transaction; someone else's or an already used upload is refused."""
    attachment_id = links.attachment_id_in(issue.file_url)
    if attachment_id is None:
        return []
    from trackly.attachments import uploads

    attachment = uploads.claim(attachment_id, issue, actor=actor, session=session)
    return [AttachmentOut.model_validate(attachment)]


def get_issue(issue_id: uuid.UUID, *, viewer: User, session: Session) -> IssueOut:
    row = session.execute(visible(_one_row(), viewer), {"issue_id": issue_id}).one_or_none()
    if row is None:
        raise NotFound("Issue not found.")
    return render_row(IssueRow(*row), viewer=viewer, session=session)


# --- update / delete ------------------------------------------------------------------------------


def update_issue(
    issue_id: uuid.UUID,
    data: IssueUpdate,
    *,
    actor: User,
    if_match: list[str] | None = None,
    session: Session,
) -> IssueOut:
    """Apply the changed fields. Checks, in order: visible (404), allowed (403), fresh (412),
    legal status move under the ISSUE_WORKFLOW preset (409), assignable assignee (422). Fields
    sent with their current value are ignored; when nothing changes, nothing is written (no
    version bump, no event)."""
    row = locked(issue_id, actor, session=session)
    issue = row.issue
    changes: dict[str, list[Any]] = {}
    for name in TRACKED_FIELDS:
        if name in data.model_fields_set:
            old, new = getattr(issue, name), getattr(data, name)
            if old != new:
                changes[name] = [old, new]

    facts = Facts(owner_id=issue.created_by, issue_status=issue.status)
    if changes.keys() - TEXT_FIELDS - {"assignee_id"}:
        require(actor, Action.ISSUE_TRIAGE, facts)
    if changes.keys() & TEXT_FIELDS:
        require(actor, Action.ISSUE_EDIT_TEXT, facts)
    if "assignee_id" in changes:
        require(actor, Action.ISSUE_ASSIGN, facts)
    _check_if_match(issue, if_match)
    if "status" in changes:
        workflow.check_transition(issue.status, changes["status"][1])
    assignee_name = row.assignee_name
    if "assignee_id" in changes:
        assignee = assignees.assignable(changes["assignee_id"][1], session=session)
        assignee_name = assignee.full_name if assignee is not None else None

    if not changes:
        return render_row(row, viewer=actor, session=session)

    for name, (_old, new) in changes.items():
        setattr(issue, name, new)
    if "file_url" in changes:
        _claim_upload(issue, actor, session=session)
    touch(issue, actor)
    session.flush()
    if issue.assignee_id is not None and "assignee_id" in changes:
        watchers.watch(issue.id, issue.assignee_id, session=session)
    record(
        session=session,
        type=_update_event_type(changes),
        issue=issue,
        actor=actor,
        changes={name: [_json(old), _json(new)] for name, (old, new) in changes.items()},
    )
    return render_row(
        row._replace(updater_name=actor.full_name, assignee_name=assignee_name),
        viewer=actor,
        session=session,
    )


def _update_event_type(changes: dict[str, list[Any]]) -> EventType:
    if "status" in changes:
        return EventType.ISSUE_STATUS_CHANGED
    if changes.keys() == {"assignee_id"}:
        return EventType.ISSUE_ASSIGNED
    return EventType.ISSUE_UPDATED


def delete_issue(
    issue_id: uuid.UUID, *, actor: User, if_match: list[str] | None = None, session: Session
) -> None:
    """ADMIN: any issue; REPORTER: their own while OPEN; MAINTAINER: never. Attachments go too."""
    issue = locked(issue_id, actor, session=session).issue
    require(actor, Action.ISSUE_DELETE, Facts(owner_id=issue.created_by, issue_status=issue.status))
    _check_if_match(issue, if_match)
    attachments.on_issue_deleted(issue, session=session)
    record(session=session, type=EventType.ISSUE_DELETED, issue=issue, actor=actor, changes={})
    session.execute(delete(Issue).where(Issue.id == issue.id))
    session.expunge(issue)


# --- history --------------------------------------------------------------------------------------


def history(issue_id: uuid.UUID, *, viewer: User, session: Session) -> list[HistoryEntry]:
    """The issue's timeline from the events table, oldest first (actor names joined in)."""
    exists = session.scalar(visible(select(Issue.id).where(Issue.id == issue_id), viewer))
    if exists is None:
        raise NotFound("Issue not found.")
    rows = session.execute(
        select(Event.id, Event.type, Event.actor_id, User.full_name, Event.created_at, Event.payload)
        .outerjoin(User, User.id == Event.actor_id)
        .where(Event.issue_id == issue_id)
        .order_by(Event.id)
    )
    return [
        HistoryEntry(
            id=event_id,
            type=type_,
            actor=Actor(id=actor_id, full_name=actor_name) if actor_id is not None else None,
            at=created_at,
            changes=(payload or {}).get("changes") or {},
        )
        for event_id, type_, actor_id, actor_name, created_at, payload in rows
    ]


# --- listing --------------------------------------------------------------------------------------

# Sort name -> key columns (each list query is served by the index with these columns in order;
# `id` is the tiebreaker, so a keyset cursor is exact).
SORT_COLUMNS: dict[str, tuple[Any, ...]] = {
    "created_at": (Issue.created_at, Issue.id),
    "updated_at": (Issue.updated_at, Issue.id),
    "severity": (Issue.severity_rank, Issue.created_at, Issue.id),
}


@dataclass(frozen=True)
class IssuePage:
    items: list[IssueOut]
    total: int
    next_cursor: str | None


def _group_filters(query: IssueListQuery, table: type[Issue] | type[IssueCount]) -> list[ColumnElement[bool]]:
    """The status, severity and created_by filters, on `issues` or on `issue_counts`."""
    where: list[ColumnElement[bool]] = []
    if query.status:
        where.append(table.status.in_(query.status))
    if query.severity:
        where.append(table.severity.in_(query.severity))
    if query.created_by is not None:
        where.append(table.created_by == query.created_by)
    return where


def _filters(query: IssueListQuery, viewer: User) -> list[ColumnElement[bool]]:
    where = _group_filters(query, Issue)
    if query.assignee == "none":
        where.append(Issue.assignee_id.is_(None))
    elif query.assignee == "me":
        where.append(Issue.assignee_id == viewer.id)
    elif query.assignee is not None:
        where.append(Issue.assignee_id == query.assignee)
    for wanted in query.label or []:
        where.append(_has_label(wanted))
    if query.q and query.q.strip():
        where.append(Issue.search_vector.op("@@")(func.websearch_to_tsquery("english", query.q.strip())))
    if query.created_after is not None:
        where.append(Issue.created_at >= query.created_after)
    if query.created_before is not None:
        where.append(Issue.created_at < query.created_before)
    if query.updated_since is not None:
        where.append(Issue.updated_at >= query.updated_since)
    return where


def _has_label(wanted: str) -> ColumnElement[bool]:
    """The issue carries the label named `wanted` (any case) or with that id."""
    try:
        match: ColumnElement[bool] = Label.id == uuid.UUID(wanted)
    except ValueError:
        match = func.lower(Label.name) == wanted.strip().lower()
    return (
        select(IssueLabel.issue_id)
        .join(Label, Label.id == IssueLabel.label_id)
        .where(IssueLabel.issue_id == Issue.id, match)
        .correlate(Issue)
        .exists()
    )


def _sort_key_values(issue: Issue, sort: str) -> list[Any]:
    return [getattr(issue, col.key) for col in SORT_COLUMNS[sort.lstrip("-")]]


def encode_cursor(sort: str, values: list[Any]) -> str:
    raw = json.dumps({"s": sort, "k": [str(v) if not isinstance(v, int) else v for v in values]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    """The key values in a cursor made for `sort` (400 when it is malformed or for another sort)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or not isinstance(data.get("k"), list):
            raise ValueError("shape")
        raw_sort, raw_values = data.get("s"), data["k"]
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("The cursor is not valid; use the URL from the Link header as it is.") from None
    if raw_sort != sort:
        raise BadRequest(
            f"The cursor was made for sort={raw_sort!s:.20} but this request asks for sort={sort}; "
            "keep the sort when following a cursor."
        )
    columns = SORT_COLUMNS[sort.lstrip("-")]
    if len(raw_values) != len(columns):
        raise BadRequest("The cursor is not valid; use the URL from the Link header as it is.")
    values: list[Any] = []
    try:
        for col, raw in zip(columns, raw_values, strict=True):
            if col.key in ("created_at", "updated_at"):
                value: Any = datetime.fromisoformat(str(raw))
                if value.tzinfo is None:
                    raise ValueError("naive")
                value = to_utc(value)  # PostgreSQL refuses offsets of 16 hours or more
            elif col.key == "severity_rank":
                if not isinstance(raw, int) or isinstance(raw, bool):
                    raise ValueError("rank")
                value = raw
            else:
                value = uuid.UUID(str(raw))
            values.append(value)
    except ValueError:
        raise BadRequest("The cursor is not valid; use the URL from the Link header as it is.") from None
    return values


def page_query(
    base: SelectT, query: IssueListQuery, *, viewer: User, where: list[ColumnElement[bool]] | None = None
) -> SelectT:
    """`base` (a SELECT over the issues) restricted to what `viewer` sees and the list's filters
    (`where`, when already built), in the list's order from the cursor, limit + 1 rows (to know
    whether more exist)."""
    columns = SORT_COLUMNS[query.sort.lstrip("-")]
    descending = query.sort.startswith("-")
    page = visible(base, viewer).where(*(_filters(query, viewer) if where is None else where))
    if query.cursor:
        after = decode_cursor(query.cursor, query.sort)
        key, bound = tuple_(*columns), tuple_(*after)
        page = page.where(key < bound if descending else key > bound)
    page = page.order_by(*(c.desc() if descending else c.asc() for c in columns))
    if query.skip:
        page = page.offset(query.skip)
    return page.limit(query.limit + 1)


def list_queries(query: IssueListQuery, *, viewer: User) -> tuple[RowSelect, Select[int]]:
    """The page query (whole rows: assignee name, labels and comment count included) and the
    total-count query."""
    where = _filters(query, viewer)
    rows = page_query(_rows(), query, viewer=viewer, where=where)
    count_query = visible(select(func.count()).select_from(Issue), viewer).where(*where)
    return rows, count_query


def counter_total_query(query: IssueListQuery, *, viewer: User) -> Select[int] | None:
    """The list total read from `issue_counts` when the only filters are status, severity and
    created_by (O(groups), as exact as count(*): the table is kept by triggers in the same
    transaction); None when a text or date filter needs the exact count over the issues."""
    if (
        (query.q and query.q.strip())
        or query.label
        or any(
            value is not None
            for value in (query.created_after, query.created_before, query.updated_since, query.assignee)
        )
    ):
        return None
    return _visible_counts(select(_sum_n()), viewer).where(*_group_filters(query, IssueCount))


def list_issues(query: IssueListQuery, *, viewer: User, session: Session) -> IssuePage:
    """One page of the issues `viewer` may see, the exact total, and a cursor when more exist."""
    page_query, count_query = list_queries(query, viewer=viewer)
    rows = session.execute(page_query).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    if not more and not query.cursor and (rows or not query.skip):
        total = query.skip + len(rows)  # the last page of an offset listing: no need to count
    else:
        from_counters = counter_total_query(query, viewer=viewer)
        total = session.scalar(count_query if from_counters is None else from_counters) or 0
    files = attachments.active_for_issues([row[0].id for row in rows], session=session)
    preset = workflow.active_preset()
    items = [_out(IssueRow(*row), files[row[0].id], viewer=viewer, preset=preset) for row in rows]
    next_cursor = encode_cursor(query.sort, _sort_key_values(rows[-1][0], query.sort)) if more else None
    return IssuePage(items=items, total=total, next_cursor=next_cursor)


def iter_issues(
    filters: IssueFilters, *, viewer: User, session: Session, chunk: int = 500
) -> Iterator[IssueOut]:
    """Every issue `viewer` may see that matches `filters`, in the list's order: the list's own
    query, read page by page with its keyset cursor, so memory holds one page at a time."""
    cursor: str | None = None
    preset = workflow.active_preset()
    while True:
        query = IssueListQuery.model_construct(
            **{name: getattr(filters, name) for name in IssueFilters.model_fields},
            limit=chunk,
            skip=0,
            cursor=cursor,
        )
        rows = session.execute(page_query(_rows(), query, viewer=viewer)).all()
        page = rows[:chunk]
        files = attachments.active_for_issues([row[0].id for row in page], session=session)
        for row in page:
            yield _out(IssueRow(*row), files[row[0].id], viewer=viewer, preset=preset)
        if len(rows) <= chunk:
            return
        # The session's identity map holds loaded rows weakly: earlier pages are freed.
        cursor = encode_cursor(query.sort, _sort_key_values(page[-1][0], query.sort))


# --- dashboard counters ---------------------------------------------------------------------------
# Read from `issue_counts` (one row per reporter, status and severity; kept exact by the triggers
# of migration 0002), so they cost O(groups) rather than a scan of the issues.


def _sum_n() -> ColumnElement[int]:
    # sum(bigint) is numeric in PostgreSQL; cast back so the driver returns an int.
    return cast(func.coalesce(func.sum(IssueCount.n), 0), BigInteger)


def _visible_counts(query: SelectT, viewer: User) -> SelectT:
    """`access.visible` for `issue_counts`: staff see every group, a reporter only their own."""
    if sees_all_issues(viewer):
        return query
    return query.where(IssueCount.created_by == viewer.id)


def count_issues(*, viewer: User, session: Session) -> int:
    return session.scalar(_visible_counts(select(_sum_n()), viewer)) or 0


def count_by_status(*, viewer: User, session: Session) -> dict[Status, int]:
    counts = dict.fromkeys(Status, 0)
    query = _visible_counts(select(IssueCount.status, _sum_n()).group_by(IssueCount.status), viewer)
    for status, n in session.execute(query):
        counts[Status(status)] = n
    return counts


def count_by_severity(*, viewer: User, session: Session) -> dict[Severity, int]:
    counts = dict.fromkeys(Severity, 0)
    query = _visible_counts(select(IssueCount.severity, _sum_n()).group_by(IssueCount.severity), viewer)
    for severity, n in session.execute(query):
        counts[Severity(severity)] = n
    return counts
