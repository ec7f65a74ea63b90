"""Issue counters: issue_counts per (reporter, status, severity), kept exact by triggers on issues.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:00:00.000000

The dashboard counters and the list totals without text/date filters read this table (at most
reporters x 4 x 4 rows) instead of counting the issues. Statement-level triggers with transition
tables keep it right for every write to `issues`, the set-based bulk loads of bench/seed.py
included: one aggregate over the statement's rows, one upsert per touched group.

Concurrency: the upsert row-locks the counter rows it changes until commit, so concurrent
transactions that write issues in the same (reporter, status, severity) group queue behind each
other at that point (e.g. two creates by one reporter with the same severity). That is accepted:
each holds the lock only for the rest of its short transaction. Groups are always upserted in
primary-key order (ORDER BY in the INSERT ... SELECT), so two multi-group statements lock in the
same order and cannot deadlock each other. An UPDATE that changes no counted column nets to zero
and touches no counter row (no lock at all). A group that reaches 0 is deleted, so the table
holds exactly `SELECT created_by, status, severity, count(*) FROM issues GROUP BY 1, 2, 3`.

Triggers and functions are not SQLAlchemy metadata: `alembic check` compares the table only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One function for the three row-changing events, branching on TG_OP (an INSERT trigger has no
# OLD TABLE and a DELETE trigger no NEW TABLE). PostgreSQL refuses transition tables on an
# `UPDATE OF <columns>` trigger, so the UPDATE trigger fires for every UPDATE; the +new/-old
# deltas of rows whose counted columns did not change cancel out (HAVING ... <> 0).
MAINTAIN_FUNCTION = """
CREATE FUNCTION issue_counts_maintain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO issue_counts AS c (created_by, status, severity, n)
        SELECT created_by, status, severity, count(*)
        FROM new_issues
        GROUP BY created_by, status, severity
        ORDER BY created_by, status, severity
        ON CONFLICT (created_by, status, severity) DO UPDATE SET n = c.n + excluded.n;
        RETURN NULL;
    END IF;

    IF TG_OP = 'DELETE' THEN
        INSERT INTO issue_counts AS c (created_by, status, severity, n)
        SELECT created_by, status, severity, -count(*)
        FROM old_issues
        GROUP BY created_by, status, severity
        ORDER BY created_by, status, severity
        ON CONFLICT (created_by, status, severity) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO issue_counts AS c (created_by, status, severity, n)
        SELECT created_by, status, severity, sum(delta)::bigint
        FROM (
            SELECT created_by, status, severity, count(*) AS delta
            FROM new_issues GROUP BY created_by, status, severity
            UNION ALL
            SELECT created_by, status, severity, -count(*)
            FROM old_issues GROUP BY created_by, status, severity
        ) AS d
        GROUP BY created_by, status, severity
        HAVING sum(delta) <> 0
        ORDER BY created_by, status, severity
        ON CONFLICT (created_by, status, severity) DO UPDATE SET n = c.n + excluded.n;
    END IF;

    -- Only groups that lost rows can reach 0; they are already locked by the upsert above.
    DELETE FROM issue_counts AS c
    USING (SELECT DISTINCT created_by, status, severity FROM old_issues) AS o
    WHERE c.created_by = o.created_by AND c.status = o.status AND c.severity = o.severity
      AND c.n = 0;
    RETURN NULL;
END;
$$
"""

# TRUNCATE fires no DELETE trigger: empty the counters with it.
TRUNCATE_FUNCTION = """
CREATE FUNCTION issue_counts_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM issue_counts;
    RETURN NULL;
END;
$$
"""

TRIGGERS = {
    "issue_counts_insert": (
        "AFTER INSERT ON issues REFERENCING NEW TABLE AS new_issues "
        "FOR EACH STATEMENT EXECUTE FUNCTION issue_counts_maintain()"
    ),
    "issue_counts_update": (
        "AFTER UPDATE ON issues REFERENCING OLD TABLE AS old_issues NEW TABLE AS new_issues "
        "FOR EACH STATEMENT EXECUTE FUNCTION issue_counts_maintain()"
    ),
    "issue_counts_delete": (
        "AFTER DELETE ON issues REFERENCING OLD TABLE AS old_issues "
        "FOR EACH STATEMENT EXECUTE FUNCTION issue_counts_maintain()"
    ),
    "issue_counts_truncate": (
        "AFTER TRUNCATE ON issues FOR EACH STATEMENT EXECUTE FUNCTION issue_counts_truncate()"
    ),
}

# Runs after the triggers exist: CREATE TRIGGER holds a SHARE ROW EXCLUSIVE lock on issues until
# this migration commits, so no write slips in between the backfill and the triggers.
BACKFILL = """
INSERT INTO issue_counts (created_by, status, severity, n)
SELECT created_by, status, severity, count(*)
FROM issues
GROUP BY created_by, status, severity
ORDER BY created_by, status, severity
"""


def upgrade() -> None:
    op.create_table(
        "issue_counts",
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "OPEN", "TRIAGED", "IN_PROGRESS", "DONE", name="issue_status", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column(
            "severity",
            sa.Enum("LOW", "MEDIUM", "HIGH", "CRITICAL", name="issue_severity", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_issue_counts_created_by_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("created_by", "status", "severity", name=op.f("pk_issue_counts")),
    )
    op.execute(MAINTAIN_FUNCTION)
    op.execute(TRUNCATE_FUNCTION)
    for name, definition in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {definition}")
    op.execute(BACKFILL)


def downgrade() -> None:
    for name in reversed(TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON issues")
    op.execute("DROP FUNCTION IF EXISTS issue_counts_truncate()")
    op.execute("DROP FUNCTION IF EXISTS issue_counts_maintain()")
    op.drop_table("issue_counts")
