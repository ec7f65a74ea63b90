"""The same intents, written expand-only: nothing here may be flagged."""

import sqlalchemy as sa
from alembic import op

revision = "0098"
down_revision = "0013"


def upgrade() -> None:
    op.create_table("widgets", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("n", sa.Integer()))
    op.create_index("ix_widgets_n", "widgets", ["n"])  # a new table: nobody uses it yet
    op.add_column("issues", sa.Column("weight", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.add_column("issues", sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()")))
    with op.get_context().autocommit_block():
        op.create_index("ix_issues_weight", "issues", ["weight"], postgresql_concurrently=True)
    op.create_foreign_key("fk_y", "issues", "users", ["weight"], ["id"], postgresql_not_valid=True)
    op.execute("CREATE INDEX CONCURRENTLY ix_events_type ON events (type)")
    # lock-reviewed: a sample of the mark: the operator checked this table is tiny
    op.create_index("ix_labels_name", "labels", ["name"])


def downgrade() -> None:
    pass
