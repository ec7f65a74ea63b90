"""Issue summaries: each issue row carries its labels (as the API renders them) and its comment count.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 23:45:00.000000

The issue list renders labels and a comment count for every row. Aggregating `issue_labels` and counting
`comments` for each row were most of what these fields added to the list's cost at 100k issues
(bench/README.md); read from the row they cost almost nothing. The two columns are kept by statement triggers in
the same transaction as the change (like `issue_counts` in 0002), so they are exact whatever
writes the tables, and the application never writes them:

- `issues.labels`: `[{id, name, color}, ...]` ordered by lower(name), id;
- `issues.comment_count`: the number of comments.

Both are recomputed for the issues a statement on `issue_labels` or `comments` touched, and for
the carriers of a label whose name or colour changed. Recomputing (rather than adding deltas)
keeps one rule for both columns and cannot drift.

Both columns have constant defaults, so adding them rewrites no table; the backfill is one pass
over the issues that have labels or comments, run after the triggers exist (CREATE TRIGGER keeps
the tables locked until commit, so no change slips in between).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The summary of one issue, computed from what is committed (plus this transaction's own
# changes): plpgsql and VOLATILE, so it is never inlined into the calling UPDATE and its queries
# take a fresh snapshot under READ COMMITTED. An UPDATE that had to wait for another transaction's
# lock on the issue row re-evaluates it for the row's new version, so it counts what that other
# transaction committed instead of overwriting it with a stale summary.
LABELS_OF_FUNCTION = """
CREATE FUNCTION issue_labels_of(issue uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN (
        SELECT coalesce(
            jsonb_agg(
                jsonb_build_object('id', l.id, 'name', l.name, 'color', l.color)
                ORDER BY lower(l.name), l.id
            ),
            '[]'::jsonb
        )
        FROM issue_labels il JOIN labels l ON l.id = il.label_id
        WHERE il.issue_id = issue
    );
END;
$$
"""

COMMENT_COUNT_OF_FUNCTION = """
CREATE FUNCTION issue_comment_count_of(issue uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN (SELECT count(*)::integer FROM comments c WHERE c.issue_id = issue);
END;
$$
"""

# Recompute both summaries of the given issues. The rows are locked in id order first (as
# `labels.service.delete_label` does), so two statements touching overlapping issues cannot
# deadlock each other. Rows whose summary did not change are not rewritten.
REFRESH_FUNCTION = """
CREATE FUNCTION issue_summaries_refresh(ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH touched AS (
        SELECT i.id FROM issues i WHERE i.id = ANY (ids) ORDER BY i.id FOR NO KEY UPDATE
    ),
    fresh AS (
        SELECT touched.id, issue_labels_of(touched.id) AS labels,
               issue_comment_count_of(touched.id) AS comment_count
        FROM touched
    )
    UPDATE issues i SET labels = fresh.labels, comment_count = fresh.comment_count
    FROM fresh
    WHERE i.id = fresh.id
      AND (i.labels, i.comment_count) IS DISTINCT FROM (fresh.labels, fresh.comment_count);
END;
$$
"""

# One trigger function for issue_labels and comments (both have issue_id). A statement in
# PL/pgSQL may only name the transition tables its trigger declares (an INSERT trigger has no old
# table), hence one branch per operation.
CHANGED_FUNCTION = """
CREATE FUNCTION issue_summaries_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM issue_summaries_refresh(ARRAY(SELECT DISTINCT issue_id FROM changed_new));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM issue_summaries_refresh(ARRAY(SELECT DISTINCT issue_id FROM changed_old));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM issue_summaries_refresh(
            ARRAY(SELECT issue_id FROM changed_new UNION SELECT issue_id FROM changed_old)
        );
    ELSE  -- TRUNCATE: no transition tables; every issue that had a summary
        PERFORM issue_summaries_refresh(
            ARRAY(SELECT id FROM issues WHERE labels <> '[]'::jsonb OR comment_count <> 0)
        );
    END IF;
    RETURN NULL;
END;
$$
"""

# Only a new name or colour changes what the carriers render (not the description).
RELABELED_FUNCTION = """
CREATE FUNCTION issue_summaries_relabeled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM issue_summaries_refresh(ARRAY(
        SELECT il.issue_id
        FROM renamed_new n
        JOIN renamed_old o ON o.id = n.id
        JOIN issue_labels il ON il.label_id = n.id
        WHERE (n.name, n.color) IS DISTINCT FROM (o.name, o.color)
    ));
    RETURN NULL;
END;
$$
"""

FUNCTIONS = {
    "issue_labels_of(uuid)": LABELS_OF_FUNCTION,
    "issue_comment_count_of(uuid)": COMMENT_COUNT_OF_FUNCTION,
    "issue_summaries_refresh(uuid[])": REFRESH_FUNCTION,
    "issue_summaries_changed()": CHANGED_FUNCTION,
    "issue_summaries_relabeled()": RELABELED_FUNCTION,
}


def _triggers() -> dict[str, tuple[str, str]]:
    triggers: dict[str, tuple[str, str]] = {}
    for table in ("issue_labels", "comments"):
        changed = "EXECUTE FUNCTION issue_summaries_changed()"
        triggers[f"{table}_summary_insert"] = (
            table,
            f"AFTER INSERT ON {table} REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT {changed}",
        )
        triggers[f"{table}_summary_update"] = (
            table,
            f"AFTER UPDATE ON {table} REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new "
            f"FOR EACH STATEMENT {changed}",
        )
        triggers[f"{table}_summary_delete"] = (
            table,
            f"AFTER DELETE ON {table} REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT {changed}",
        )
        triggers[f"{table}_summary_truncate"] = (
            table,
            f"AFTER TRUNCATE ON {table} FOR EACH STATEMENT {changed}",
        )
    triggers["labels_summary_update"] = (
        "labels",
        "AFTER UPDATE ON labels REFERENCING OLD TABLE AS renamed_old NEW TABLE AS renamed_new "
        "FOR EACH STATEMENT EXECUTE FUNCTION issue_summaries_relabeled()",
    )
    return triggers


TRIGGERS = _triggers()

# Every issue with a label or a comment, in one pass (locked in id order like any refresh).
BACKFILL = (
    "SELECT issue_summaries_refresh(ARRAY("
    "SELECT issue_id FROM issue_labels UNION SELECT issue_id FROM comments))"
)


def upgrade() -> None:
    op.add_column(
        "issues",
        sa.Column("labels", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
    )
    op.add_column(
        "issues", sa.Column("comment_count", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    for definition in FUNCTIONS.values():
        op.execute(definition)
    for name, (_table, definition) in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {definition}")
    op.execute(BACKFILL)


def downgrade() -> None:
    for name, (table, _definition) in reversed(TRIGGERS.items()):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.drop_column("issues", "comment_count")
    op.drop_column("issues", "labels")
