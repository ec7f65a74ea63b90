"""Export and import: job tables, per-row import results, source links, `issues.source_url` and
the `events.imported` flag.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-08 01:00:00.000000

`events.imported` marks history copied in by an import. Such an event is the issue's history
(GET /issues/{id}/history, statistics) but no outbound channel may act on it: no live update, no
catch-up feed entry, no notification, no webhook, no email. Imported events are also written with
`published_at` set, so an outbox that only looks at `published_at` already skips them.

`import_links` makes imports idempotent: one row per (source, kind, source id) naming the row it
became, so a second run of the same file updates instead of duplicating.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _times() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.add_column("issues", sa.Column("source_url", sa.String(2048), nullable=True))
    op.add_column("events", sa.Column("imported", sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("include_files", sa.Boolean(), nullable=False),
        sa.Column("blob_name", sa.String(512), nullable=False),
        sa.Column("state", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("counts", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("bytes_written", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("runs", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.String(1000), nullable=True),
        *_times(),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name="fk_export_jobs_requested_by_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_export_jobs"),
    )
    op.create_index(
        "ix_export_jobs_active",
        "export_jobs",
        ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("mapping", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("blob_name", sa.String(512), nullable=False),
        sa.Column("file_bytes", sa.BigInteger(), nullable=True),
        sa.Column("rows_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("counts", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("runs", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.String(1000), nullable=True),
        *_times(),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name="fk_import_jobs_requested_by_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_import_jobs"),
    )
    op.create_index(
        "ix_import_jobs_active",
        "import_jobs",
        ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_table(
        "import_results",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=True),
        sa.Column("target_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["import_jobs.id"], name="fk_import_results_job_id_import_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "row", name="pk_import_results"),
    )
    op.create_index(
        "ix_import_results_job_id_kind_source_id", "import_results", ["job_id", "kind", "source_id"]
    )
    op.create_table(
        "import_links",
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("source", "kind", "source_id", name="pk_import_links"),
    )


def downgrade() -> None:
    op.drop_table("import_links")
    op.drop_index("ix_import_results_job_id_kind_source_id", table_name="import_results")
    op.drop_table("import_results")
    op.drop_index("ix_import_jobs_active", table_name="import_jobs")
    op.drop_table("import_jobs")
    op.drop_index("ix_export_jobs_active", table_name="export_jobs")
    op.drop_table("export_jobs")
    op.drop_column("events", "imported")
    op.drop_column("issues", "source_url")
