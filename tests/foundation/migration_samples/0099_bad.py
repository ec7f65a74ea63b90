"""A migration that would stop the API on a big table: every operation here must be flagged."""

import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "0013"


def upgrade() -> None:
    op.add_column("issues", sa.Column("token", sa.Uuid(), server_default=sa.text("gen_random_uuid()")))
    op.add_column("issues", sa.Column("weight", sa.Integer(), nullable=False))
    op.create_index("ix_issues_weight", "issues", ["weight"])
    op.alter_column("issues", "title", type_=sa.Text())
    op.alter_column("issues", "description", nullable=False)
    op.create_foreign_key("fk_x", "issues", "users", ["weight"], ["id"])
    op.execute("CREATE INDEX ix_events_type ON events (type)")
    op.execute("UPDATE issues SET weight = 0")
    op.drop_column("issues", "severity")


def downgrade() -> None:
    pass
